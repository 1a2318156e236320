// DNS look-ups through the configured resolvers (HIKYAKU_DNS_SERVERS), with the
// answers the delivery path needs: MX hosts in preference order, and addresses.
import { promises as dns } from "node:dns";

export type DnsFailure = "nxdomain" | "nodata" | "temporary";

export class DnsError extends Error {
  constructor(
    readonly kind: DnsFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface Resolver {
  mx(domain: string): Promise<{ exchange: string; priority: number }[]>;
  addresses(host: string): Promise<string[]>;
  txt(name: string): Promise<string[][]>;
}

function classify(err: unknown, what: string): DnsError {
  const code = (err as { code?: string }).code;
  if (code === "ENOTFOUND") return new DnsError("nxdomain", `${what}: no such domain`, { cause: err });
  if (code === "ENODATA") return new DnsError("nodata", `${what}: no records of that type`, { cause: err });
  return new DnsError("temporary", `${what}: ${code ?? "lookup failed"}`, { cause: err });
}

export function createResolver(servers: string[] | undefined, timeoutMs = 5000): Resolver {
  const r = new dns.Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers && servers.length > 0) r.setServers(servers);
  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw classify(err, what);
    }
  };
  return {
    mx: (domain) => wrap(`MX ${domain}`, async () => (await r.resolveMx(domain)).sort((a, b) => a.priority - b.priority)),
    addresses: async (host) => {
      const [v4, v6] = await Promise.allSettled([r.resolve4(host), r.resolve6(host)]);
      const list = [...(v4.status === "fulfilled" ? v4.value : []), ...(v6.status === "fulfilled" ? v6.value : [])];
      if (list.length > 0) return list;
      const errs = [v4, v6].map((p) => (p.status === "rejected" ? classify(p.reason, `A/AAAA ${host}`) : undefined));
      if (errs.some((e) => e?.kind === "temporary")) throw errs.find((e) => e?.kind === "temporary");
      if (errs.every((e) => e?.kind === "nxdomain")) throw errs[0];
      throw new DnsError("nodata", `A/AAAA ${host}: no addresses`);
    },
    txt: (name) => wrap(`TXT ${name}`, () => r.resolveTxt(name)),
  };
}
