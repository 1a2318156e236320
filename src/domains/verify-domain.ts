// Looks a domain's records up through the configured resolvers (HIKYAKU_DNS_SERVERS) and
// reports each as found, missing or mismatched with what was seen. A pending key whose
// record is found becomes active, and the key it replaces retires.
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { createResolver, DnsError, type Resolver } from "../delivery/dns.ts";
import { dkimName, dkimValue, type RecordPurpose, spfInclude } from "./dns-records.ts";
import { activateKeys, type DomainRow, type KeyRow, keysOf, refuseIfVerifiedElsewhere } from "./domain-store.ts";
import type { DkimAlgorithm } from "./key-generation.ts";

export interface Check {
  purpose: RecordPurpose;
  type: "TXT";
  name: string;
  /** found | missing | mismatched; error when the look-up itself failed (try again). */
  status: "found" | "missing" | "mismatched" | "error";
  expected: string;
  /** The TXT values seen at the name (each record's strings joined). */
  seen: string[];
  detail: string;
  selector?: string;
  algorithm?: DkimAlgorithm;
}

/** 409 when another account has verified this domain: it is theirs, and nothing is looked up. */
export async function verifyDomain(deps: { db: Db; config: Config }, domain: DomainRow): Promise<Check[]> {
  await refuseIfVerifiedElsewhere(deps.db.sql, domain.account_id, domain.domain);
  const keys = (await keysOf(deps.db, [domain.id])).get(domain.id)?.filter((k) => k.state !== "retired") ?? [];
  const resolver = createResolver(deps.config.HIKYAKU_DNS_SERVERS);
  const dkim = await Promise.all(keys.map((k) => checkDkim(resolver, domain.domain, k)));
  const others = await Promise.all([checkSpf(resolver, domain.domain, spfInclude(deps.config)), checkDmarc(resolver, domain.domain)]);
  await activateKeys(
    deps,
    domain,
    keys.filter((k, i) => k.state === "pending" && dkim[i]?.status === "found"),
  );
  return [...dkim, ...others];
}

type Lookup = { values: string[] } | { missing: string } | { error: string };

async function lookup(resolver: Resolver, name: string): Promise<Lookup> {
  try {
    return { values: (await resolver.txt(name)).map((strings) => strings.join("")) };
  } catch (err) {
    if (err instanceof DnsError && err.kind !== "temporary")
      return { missing: err.kind === "nxdomain" ? "the name does not exist" : "the name has no TXT record" };
    return { error: `the look-up failed (${(err as Error).message}); try again in a minute` };
  }
}

function tags(value: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of value.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) map.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).replace(/\s+/g, ""));
  }
  return map;
}

async function checkDkim(resolver: Resolver, domain: string, key: KeyRow): Promise<Check> {
  const name = dkimName(key.selector, domain);
  const expected = dkimValue({ algorithm: key.algorithm, publicKey: key.public_key });
  const base = { purpose: "dkim" as const, type: "TXT" as const, name, expected, selector: key.selector, algorithm: key.algorithm };
  const r = await lookup(resolver, name);
  if ("error" in r) return { ...base, status: "error", seen: [], detail: `TXT ${name}: ${r.error}.` };
  if ("missing" in r) return { ...base, status: "missing", seen: [], detail: `TXT ${name}: ${r.missing}; publish the value shown.` };
  const k = key.algorithm === "rsa-sha256" ? "rsa" : "ed25519";
  const match = r.values.some((v) => {
    const t = tags(v);
    return t.get("p") === key.public_key && (t.get("k") ?? "rsa") === k;
  });
  if (match) return { ...base, status: "found", seen: r.values, detail: `TXT ${name} publishes this key.` };
  return {
    ...base,
    status: "mismatched",
    seen: r.values,
    detail: `TXT ${name} does not hold this key (p= and k= must match exactly); replace it with the value shown.`,
  };
}

async function checkSpf(resolver: Resolver, domain: string, include: string): Promise<Check> {
  const expected = `v=spf1 include:${include} ~all`;
  const base = { purpose: "spf" as const, type: "TXT" as const, name: domain, expected };
  const r = await lookup(resolver, domain);
  if ("error" in r) return { ...base, status: "error", seen: [], detail: `TXT ${domain}: ${r.error}.` };
  const spf = "values" in r ? r.values.filter((v) => /^v=spf1(\s|$)/i.test(v.trim())) : [];
  if (spf.length === 0) return { ...base, status: "missing", seen: [], detail: `${domain} has no SPF record; publish the value shown.` };
  if (spf.length > 1)
    return {
      ...base,
      status: "mismatched",
      seen: spf,
      detail: `${domain} has ${spf.length} SPF records; receivers treat that as an error. Merge them into one that includes ${include}.`,
    };
  const terms = (spf[0] ?? "").toLowerCase().split(/\s+/);
  if (terms.some((t) => /^[+?~]?include:/.test(t) && t.replace(/^[+?~]?include:/, "") === include.toLowerCase())) {
    return { ...base, status: "found", seen: spf, detail: `The SPF record includes ${include}.` };
  }
  return { ...base, status: "mismatched", seen: spf, detail: `The SPF record does not include ${include}; add include:${include} before its "all" term.` };
}

async function checkDmarc(resolver: Resolver, domain: string): Promise<Check> {
  const name = `_dmarc.${domain}`;
  const base = { purpose: "dmarc" as const, type: "TXT" as const, name, expected: "v=DMARC1; p=none; adkim=r; aspf=r" };
  const r = await lookup(resolver, name);
  if ("error" in r) return { ...base, status: "error", seen: [], detail: `TXT ${name}: ${r.error}.` };
  const dmarc = "values" in r ? r.values.filter((v) => /^v=DMARC1\s*(;|$)/i.test(v.trim())) : [];
  if (dmarc.length === 1) return { ...base, status: "found", seen: dmarc, detail: "A DMARC record is published." };
  if (dmarc.length > 1)
    return { ...base, status: "mismatched", seen: dmarc, detail: `${name} has ${dmarc.length} DMARC records; receivers ignore them all. Keep one.` };
  return { ...base, status: "missing", seen: [], detail: `${name} has no DMARC record; publish one (p=none is a safe start).` };
}
