// Source IPs: the addresses allowed to relay on the relay port. The IP names the
// account, so one IP belongs to at most one account.
import net from "node:net";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";

export const MAX_SOURCE_IPS = 5;

/**
 * One spelling per address: IPv6 in RFC 5952 form (lower case, zeros compressed), and
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) as plain IPv4, which is how a dual-stack
 * listener reports an IPv4 client.
 */
export function normaliseIp(text: string): string | undefined {
  const ip = text.trim();
  if (net.isIPv4(ip)) return ip.split(".").map(Number).join(".");
  if (!net.isIPv6(ip) || ip.includes("%")) return undefined;
  // The WHATWG URL parser serialises IPv6 hosts canonically.
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (!mapped) return canonical;
  const hi = Number.parseInt(mapped[1] ?? "0", 16);
  const lo = Number.parseInt(mapped[2] ?? "0", 16);
  return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
}

export async function getSourceIps(db: Db, accountId: string): Promise<string[]> {
  const rows = await db.sql<{ ip: string }[]>`select ip from source_ips where account_id = ${accountId} order by created_at, ip`;
  return rows.map((r) => r.ip);
}

/** Replaces the account's list in one transaction; an IP held by another account refuses the whole list. */
export async function replaceSourceIps(db: Db, accountId: string, given: string[]): Promise<string[]> {
  const ips = checkList(given);
  await db.sql.begin(async (tx) => {
    await tx`delete from source_ips where account_id = ${accountId}`;
    if (ips.length === 0) return;
    const inserted = await tx<{ ip: string }[]>`
      insert into source_ips (ip, account_id) select unnest(${ips}::text[]), ${accountId}
      on conflict (ip) do nothing returning ip`;
    const taken = ips.filter((ip) => !inserted.some((r) => r.ip === ip));
    if (taken.length > 0) {
      throw new AppError(
        "conflict",
        `${taken.join(", ")} is already registered to another account; an IP can name only one account. Ask its owner to remove it.`,
        {
          field: "ips",
        },
      );
    }
  });
  return ips;
}

function checkList(given: string[]): string[] {
  const ips: string[] = [];
  given.forEach((text, i) => {
    const ip = normaliseIp(text);
    if (!ip) throw new AppError("validation_error", `ips[${i}]: "${text.slice(0, 60)}" is not an IPv4 or IPv6 address.`, { field: `ips[${i}]` });
    if (!ips.includes(ip)) ips.push(ip);
  });
  if (ips.length > MAX_SOURCE_IPS) {
    throw new AppError("validation_error", `ips has ${ips.length} addresses; an account may register at most ${MAX_SOURCE_IPS}.`, { field: "ips" });
  }
  return ips;
}

/** The account a relaying client's IP belongs to, if any. */
export async function accountForSourceIp(db: Db, remoteAddress: string): Promise<string | undefined> {
  const ip = normaliseIp(remoteAddress);
  if (!ip) return undefined;
  const [row] = await db.sql<{ accountId: string }[]>`select account_id as "accountId" from source_ips where ip = ${ip}`;
  return row?.accountId;
}
