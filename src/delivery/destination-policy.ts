// Destination policies (F10): how mail to one recipient domain, or to every domain
// whose MX hosts share a suffix (an MX group), is shaped. One budget per policy key:
// all worker processes on the database share it (src/delivery/shaper.ts).
//
// This module is pure: it holds the built-in table and picks the policy and budget key
// for a domain. The operator's overrides live in destination_policies and are read by
// src/delivery/policy-store.ts, which hands them in as `overrides`.

export type TlsMode = "opportunistic" | "required" | "mta-sts";

/** The settable fields, with the names the admin API uses. */
export interface PolicySettings {
  /** Connections open at once to the group, across all worker processes. */
  max_connections: number;
  /** Messages (transactions) per minute to the group, across all processes; null: no limit. */
  messages_per_minute: number | null;
  /** RCPT TO per transaction; more recipients of one message go in further transactions. */
  recipients_per_transaction: number;
  /** Transactions over one connection before it is closed and a new one opened. */
  messages_per_connection: number;
  /** An idle connection is closed after this many seconds. */
  idle_close_seconds: number;
  tls: TlsMode;
}

export interface DestinationPolicy extends PolicySettings {
  /** The recipient domain the policy is named by, or `*` for every other domain. */
  domain: string;
  /** MX host suffixes (`.google.com`): a domain whose MX host ends so shares this policy and budget. */
  mx_suffixes: string[];
  /** Where the numbers come from (a published limit, or "a starting guess"). */
  basis: string;
}

export interface ResolvedPolicy {
  policy: DestinationPolicy;
  /** The budget the limits count against: the policy's domain, or for `*` the MX group. */
  key: string;
  /** The policy was overridden by the operator (PUT /v1/admin/destination-policies/{domain}). */
  overridden: boolean;
}

export const DEFAULT_SETTINGS: PolicySettings = {
  max_connections: 16,
  messages_per_minute: null,
  recipients_per_transaction: 100,
  messages_per_connection: 1000,
  idle_close_seconds: 15,
  tls: "opportunistic",
};

/** Filled in with the built-in table; see README "Destination policies" for the sources. */
export const BUILT_IN_POLICIES: DestinationPolicy[] = [{ domain: "*", mx_suffixes: [], basis: "a starting guess", ...DEFAULT_SETTINGS }];

export type Overrides = Map<string, Partial<PolicySettings> & { mx_suffixes?: string[] }>;

/**
 * The policy for mail to `domain` whose destination hosts are `mxHosts` (MX host names
 * in preference order, or the route's host): the domain's own policy (override, then
 * built-in), else the policy whose MX suffix matches one of the hosts, else `*`.
 * `overrides` maps a domain to the settings the operator gave; a missing field keeps the
 * built-in (or `*`) value.
 */
export function resolvePolicy(domain: string, mxHosts: string[], overrides: Overrides): ResolvedPolicy {
  const d = domain.toLowerCase();
  const named = policyNamed(d, overrides);
  if (named) return named;
  const hosts = mxHosts.map((h) => h.toLowerCase().replace(/\.$/, ""));
  for (const name of new Set([...overrides.keys(), ...BUILT_IN.keys()])) {
    if (name === "*") continue;
    const p = policyNamed(name, overrides);
    if (p?.policy.mx_suffixes.some((s) => hosts.some((h) => h.endsWith(s)))) return p;
  }
  const fallback = policyNamed("*", overrides) ?? { policy: BUILT_IN.get("*") as DestinationPolicy, key: "*", overridden: false };
  return { ...fallback, key: `*:${mxGroup(hosts[0] ?? d)}` };
}

const BUILT_IN = new Map(BUILT_IN_POLICIES.map((p) => [p.domain, p]));

function policyNamed(name: string, overrides: Overrides): ResolvedPolicy | undefined {
  const builtIn = BUILT_IN.get(name);
  const over = overrides.get(name);
  if (!builtIn && !over) return undefined;
  const base = builtIn ?? { ...(BUILT_IN.get("*") as DestinationPolicy), domain: name, mx_suffixes: [], basis: "set by the operator" };
  return { policy: { ...base, ...over, domain: name }, key: name, overridden: over !== undefined };
}

/** The MX group of a host for the `*` policy: the host without its first label (`mx1.example.net` → `example.net`). */
export function mxGroup(host: string): string {
  if (/^[\d.]+$|:/.test(host)) return host;
  const labels = host.split(".");
  return labels.length > 2 ? labels.slice(1).join(".") : host;
}
