// An account's suppression list (F16): the addresses it no longer sends to. Accept
// (src/accept/store.ts) reads it in its one statement; a trigger adds hard bounces
// (migration 0008); these are the list's own operations: page, add, remove.
import { checkEmail } from "../accept/addresses.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";

export type SuppressionReason = "hard_bounce" | "complaint" | "manual";

export interface Suppression {
  address: string;
  reason: SuppressionReason;
  /** The delivery event (GET /v1/logs `id`) and message that caused it; null when added by hand. */
  event_id: number | null;
  message_id: string | null;
  detail: string | null;
  created_at: string;
}

interface Row {
  address: string;
  reason: SuppressionReason;
  event_id: number | null;
  message_id: string | null;
  detail: string | null;
  created_at: Date;
}

const toApi = (r: Row): Suppression => ({ ...r, created_at: r.created_at.toISOString() });

/** One spelling per address: what checkEmail makes of it, lower-cased, as the accept statement compares. */
export function suppressionAddress(address: string, field: string): string {
  return checkEmail(address.trim(), field).toLowerCase();
}

/** Newest first; the cursor is the (created_at, address) of the last entry shown. */
export async function listSuppressions(db: Db, accountId: string, opts: { limit: number; cursor?: string }) {
  const after = opts.cursor === undefined ? null : decodeCursor(opts.cursor);
  const rows = await db.sql<Row[]>`
    select address, reason, event_id, message_id, detail, created_at from suppressions
    where account_id = ${accountId}
      ${after ? db.sql`and (created_at, address) < (${after.at}, ${after.address})` : db.sql``}
    order by created_at desc, address desc
    limit ${opts.limit + 1}`;
  const page = rows.slice(0, opts.limit);
  const last = page.at(-1);
  return { data: page.map(toApi), next_cursor: rows.length > opts.limit && last ? encodeCursor(last) : null };
}

/** Adds an address; one already on the list stays as it was (`created: false`). */
export async function addSuppression(
  db: Db,
  accountId: string,
  entry: { address: string; reason: "complaint" | "manual"; detail?: string },
): Promise<{ created: boolean; suppression: Suppression }> {
  const inserted = await db.sql<Row[]>`
    insert into suppressions (account_id, address, reason, detail, created_at)
    values (${accountId}, ${entry.address}, ${entry.reason}, ${entry.detail ?? null}, date_trunc('milliseconds', now()))
    on conflict (account_id, address) do nothing
    returning address, reason, event_id, message_id, detail, created_at`;
  if (inserted[0]) return { created: true, suppression: toApi(inserted[0]) };
  const [existing] = await db.sql<Row[]>`
    select address, reason, event_id, message_id, detail, created_at from suppressions
    where account_id = ${accountId} and address = ${entry.address}`;
  // Removed between the two statements: say so rather than answer with nothing.
  if (!existing) throw new AppError("conflict", `${entry.address} was removed from the suppression list meanwhile; add it again.`, { field: "address" });
  return { created: false, suppression: toApi(existing) };
}

export async function removeSuppression(db: Db, accountId: string, address: string): Promise<boolean> {
  const rows = await db.sql`delete from suppressions where account_id = ${accountId} and address = ${address} returning 1`;
  return rows.length > 0;
}

function encodeCursor(r: Row): string {
  return Buffer.from(JSON.stringify([r.created_at.toISOString(), r.address])).toString("base64url");
}

function decodeCursor(cursor: string): { at: Date; address: string } {
  const bad = new AppError("validation_error", "cursor is not one this API gave out; pass next_cursor unchanged.", { field: "cursor" });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString());
  } catch {
    throw bad;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2 || typeof parsed[0] !== "string" || typeof parsed[1] !== "string") throw bad;
  const at = new Date(parsed[0]);
  if (Number.isNaN(at.getTime())) throw bad;
  return { at, address: parsed[1] };
}
