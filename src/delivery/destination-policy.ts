// Destination policies (F10): how mail to one recipient domain, or to every domain
// whose MX hosts share a suffix (an MX group), is shaped. One budget per policy key:
// all worker processes on the database share it (src/delivery/shaper.ts).
//
// This module is pure: it holds the built-in table and picks the policy and budget key
// for a domain. The operator's overrides live in destination_policies and are read by
// src/delivery/policy-store.ts, which hands them in as `overrides`.
import { BUILT_IN_POLICIES, DEFAULT_SETTINGS } from "./built-in-policies.ts";

export { BUILT_IN_POLICIES, DEFAULT_SETTINGS };

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
  /** Other recipient domains that are this policy by name (hotmail.com for outlook.com): same settings, same budget. */
  aliases?: string[];
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
  /** How the domain found it: by its own name, as an alias, by an MX host's suffix, or the `*` default. */
  via?: "domain" | "alias" | "mx_suffix" | "default";
}

/** What the operator set for one policy (a row of destination_policies): a field left out keeps the base value. */
export type OverrideSettings = Partial<PolicySettings> & { mx_suffixes?: string[] };
export type Overrides = Map<string, OverrideSettings>;

/** The settable fields, in the order the API shows them. */
export const SETTING_FIELDS = [
  "max_connections",
  "messages_per_minute",
  "recipients_per_transaction",
  "messages_per_connection",
  "idle_close_seconds",
  "tls",
] as const satisfies readonly (keyof PolicySettings)[];

/**
 * The policy for mail to `domain` whose destination hosts are `mxHosts` (MX host names
 * in preference order, or the route's host): the domain's own policy (by name or alias;
 * override, then built-in), else the policy with the longest MX suffix matching the
 * first host that matches any, else `*` with one budget per MX group.
 * `overrides` maps a domain to the settings the operator gave; a missing field keeps the
 * built-in value, or for a domain with no built-in policy, the `*` value in force.
 */
export function resolvePolicy(domain: string, mxHosts: string[], overrides: Overrides): ResolvedPolicy {
  const d = canonicalName(domain);
  const named = policyNamed(d, overrides);
  if (named) return named;
  const hosts = mxHosts.map(canonicalName).filter((h) => h !== "");
  const grouped = policyByMx(hosts, overrides);
  if (grouped) return grouped;
  return { ...defaultPolicy(overrides), key: `*:${mxGroup(hosts[0] ?? d)}`, via: "default" };
}

/** Every named policy in force (built-in, overridden, or the operator's own), then `*`. */
export function listPolicies(overrides: Overrides): { policy: DestinationPolicy; builtIn: boolean; overridden: boolean }[] {
  const named = namedPolicies(overrides).map((r) => ({ policy: r.policy, builtIn: BUILT_IN.has(r.policy.domain), overridden: r.overridden }));
  const d = defaultPolicy(overrides);
  return [...named, { policy: d.policy, builtIn: true, overridden: d.overridden }];
}

/** The built-in policy a name belongs to, by its own name or as an alias (`hotmail.com` → outlook.com). */
export function builtInPolicy(name: string): DestinationPolicy | undefined {
  return BY_NAME.get(canonicalName(name));
}

/** The MX group of a host for the `*` policy: the host without its first label (`mx1.example.net` → `example.net`). */
export function mxGroup(host: string): string {
  if (/^[\d.]+$|:/.test(host)) return host;
  const labels = host.split(".");
  return labels.length > 2 ? labels.slice(1).join(".") : host;
}

/** Lower case, without the root's trailing dot: how names are compared and stored. */
export function canonicalName(name: string): string {
  return name.trim().toLowerCase().replace(/\.+$/, "");
}

/** An MX suffix as stored: lower case, one leading dot, so it matches on a label boundary. */
export function canonicalSuffix(suffix: string): string {
  return `.${canonicalName(suffix).replace(/^\.+/, "")}`;
}

const BUILT_IN = new Map(BUILT_IN_POLICIES.map((p) => [p.domain, p]));
const BY_NAME = new Map(BUILT_IN_POLICIES.filter((p) => p.domain !== "*").flatMap((p) => [p.domain, ...(p.aliases ?? [])].map((n) => [n, p] as const)));
const DEFAULT = BUILT_IN.get("*") as DestinationPolicy;

function defaultPolicy(overrides: Overrides): ResolvedPolicy {
  const over = overrides.get("*");
  return { policy: withOverride(DEFAULT, over), key: "*", overridden: over !== undefined, via: "default" };
}

function policyNamed(name: string, overrides: Overrides): ResolvedPolicy | undefined {
  if (name === "*") return undefined;
  const builtIn = BY_NAME.get(name);
  const own = builtIn?.domain ?? name;
  const over = overrides.get(own);
  if (!builtIn && !over) return undefined;
  const base = builtIn ?? {
    ...defaultPolicy(overrides).policy,
    domain: own,
    aliases: [],
    mx_suffixes: [],
    basis: "Set by the operator; a field not set follows `*`.",
  };
  return { policy: withOverride(base, over), key: own, overridden: over !== undefined, via: own === name ? "domain" : "alias" };
}

function withOverride(base: DestinationPolicy, over: OverrideSettings | undefined): DestinationPolicy {
  if (!over) return base;
  const set = Object.fromEntries(SETTING_FIELDS.filter((f) => over[f] !== undefined).map((f) => [f, over[f]]));
  return { ...base, ...set, mx_suffixes: over.mx_suffixes ?? base.mx_suffixes };
}

/** The named policies in force; computed once per overrides map (the store swaps the map when the table changes). */
const namedCache = new WeakMap<Overrides, ResolvedPolicy[]>();
function namedPolicies(overrides: Overrides): ResolvedPolicy[] {
  let list = namedCache.get(overrides);
  if (!list) {
    const names = new Set([...BY_NAME.values()].map((p) => p.domain));
    for (const name of overrides.keys()) if (name !== "*" && !BY_NAME.has(name)) names.add(name);
    list = [...names].map((n) => policyNamed(n, overrides) as ResolvedPolicy);
    namedCache.set(overrides, list);
  }
  return list;
}

function policyByMx(hosts: string[], overrides: Overrides): ResolvedPolicy | undefined {
  const policies = namedPolicies(overrides);
  for (const host of hosts) {
    let best: { r: ResolvedPolicy; length: number } | undefined;
    for (const r of policies) {
      for (const s of r.policy.mx_suffixes) {
        const hit = host.endsWith(s) || host === s.slice(1);
        if (hit && s.length > (best?.length ?? 0)) best = { r, length: s.length };
      }
    }
    if (best) return { ...best.r, via: "mx_suffix" };
  }
  return undefined;
}
