// A domain's MTA-STS policy in force (RFC 8461 §5.1): the `_mta-sts` TXT record says
// whether there is one and which id it has; the policy itself comes from the cache
// (mta_sts_policies, shared by all processes, surviving restarts) while it is unexpired
// and its id is current, else from an HTTPS fetch. A cached policy outlives a TXT record
// that disappears and a fetch that fails, so neither can downgrade the domain.
import { nowMs } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";
import { DnsError } from "./dns.ts";
import { type FetchOptions, fetchStsPolicy } from "./mta-sts-fetch.ts";
import { parseStsRecord, type StsMode, type StsPolicy } from "./mta-sts-policy.ts";

interface Cached {
  id: string;
  policy: StsPolicy;
  expiresAt: number;
}

export interface MtaStsOptions extends FetchOptions {
  db: Db;
  /** How long one process remembers a failed fetch of one TXT id before trying again. */
  failureBackoffMs?: number;
  /** How long one process trusts its copy of the cache row (another process may have refreshed it). */
  memoMs?: number;
}

export interface PolicyInForce {
  /** null: the domain has no policy in force (no record, mode none, or a failed first fetch). */
  policy: StsPolicy | null;
  /** Why there is none, when the domain announced one: for the log. */
  note?: string;
}

/** A cached policy with less than this share of its max_age left is refetched in the background (RFC 8461 §10.2). */
const REFRESH_SHARE = 0.25;
/** Domains one process remembers (memo, failures): the least recently used go first. */
const MAX_REMEMBERED = 10_000;

/** Map in least-recently-used order, at most `max` entries. */
function remember<K, V>(m: Map<K, V>, key: K, value: V, max = MAX_REMEMBERED): void {
  m.delete(key);
  m.set(key, value);
  while (m.size > max) {
    const oldest = m.keys().next();
    if (oldest.done) break;
    m.delete(oldest.value);
  }
}

export class MtaSts {
  private readonly memo = new Map<string, { row: Cached | null; readAt: number }>();
  private readonly failures = new Map<string, { id: string; until: number; error: string }>();

  /** One look-up per domain at a time: a burst of mail to a domain shares its TXT query and its fetch. */
  private readonly inFlight = new Map<string, Promise<PolicyInForce>>();

  constructor(private readonly opts: MtaStsOptions) {}

  policyFor(domain: string): Promise<PolicyInForce> {
    const d = domain.toLowerCase();
    let p = this.inFlight.get(d);
    if (!p) {
      p = this.lookUp(d).finally(() => this.inFlight.delete(d));
      this.inFlight.set(d, p);
    }
    return p;
  }

  private async lookUp(d: string): Promise<PolicyInForce> {
    const id = await this.recordId(d);
    let cached = await this.cached(d, false);
    if (id !== undefined && cached?.id !== id) cached = await this.cached(d, true);
    const valid = cached && cached.expiresAt > nowMs() ? cached : undefined;
    // No record (or no answer), or the same id: a valid cached policy stays in force.
    if (valid && (id === undefined || id === valid.id)) {
      // §10.2: refresh before it expires, so that the policy never lapses while the domain still sends it.
      if (id !== undefined && valid.expiresAt - nowMs() < valid.policy.maxAge * 1000 * REFRESH_SHARE) this.refreshSoon(d, id, valid);
      return inForce(valid.policy);
    }
    if (id === undefined) return { policy: null };
    const failed = this.failures.get(d);
    if (failed?.id === id && failed.until > nowMs()) return valid ? inForce(valid.policy) : { policy: null, note: failed.error };
    return this.fetchAndStore(d, id, valid);
  }

  /** A background refresh of a policy near its expiry, one per domain at a time; failing, the cached one stays. */
  private readonly refreshing = new Set<string>();
  private refreshSoon(d: string, id: string, valid: Cached): void {
    const failed = this.failures.get(d);
    if (this.refreshing.has(d) || (failed?.id === id && failed.until > nowMs())) return;
    this.refreshing.add(d);
    void this.fetchAndStore(d, id, valid)
      .catch((err: unknown) => log.warn("MTA-STS policy refresh failed", { domain: d, err: err as Error }))
      .finally(() => this.refreshing.delete(d));
  }

  private async fetchAndStore(d: string, id: string, valid: Cached | undefined): Promise<PolicyInForce> {
    const fetched = await fetchStsPolicy(d, this.opts);
    if (!fetched.ok) {
      remember(this.failures, d, { id, until: nowMs() + (this.opts.failureBackoffMs ?? 60_000), error: fetched.error });
      log.warn("MTA-STS policy fetch failed", { domain: d, error: fetched.error, cached: valid ? valid.id : null });
      // §5.1: a failed refresh keeps the unexpired cached policy; without one, deliver as before.
      return valid ? inForce(valid.policy) : { policy: null, note: `MTA-STS policy fetch failed: ${fetched.error}` };
    }
    this.failures.delete(d);
    await this.store(d, id, fetched.policy);
    return inForce(fetched.policy);
  }

  /** The id of the domain's TXT record; undefined when there is no valid one or DNS fails. */
  private async recordId(domain: string): Promise<string | undefined> {
    try {
      return parseStsRecord(await this.opts.resolver.txt(`_mta-sts.${domain}`));
    } catch (err) {
      if (err instanceof DnsError) return undefined;
      throw err;
    }
  }

  private async cached(domain: string, fresh: boolean): Promise<Cached | null> {
    const m = this.memo.get(domain);
    if (!fresh && m && nowMs() - m.readAt < (this.opts.memoMs ?? 60_000)) return m.row;
    const [r] = await this.opts.db.sql<{ policy_id: string; mode: StsMode; mx: string[]; max_age: number; expires_at: Date }[]>`
      select policy_id, mode, mx, max_age, expires_at from mta_sts_policies where domain = ${domain}`;
    const row = r ? { id: r.policy_id, policy: { mode: r.mode, mx: r.mx, maxAge: r.max_age }, expiresAt: r.expires_at.getTime() } : null;
    remember(this.memo, domain, { row, readAt: nowMs() });
    return row;
  }

  private async store(domain: string, id: string, policy: StsPolicy): Promise<void> {
    const fetchedAt = new Date(nowMs());
    const expiresAt = new Date(fetchedAt.getTime() + policy.maxAge * 1000);
    await this.opts.db.sql`
      insert into mta_sts_policies (domain, policy_id, mode, mx, max_age, fetched_at, expires_at)
      values (${domain}, ${id}, ${policy.mode}, ${policy.mx}::text[], ${policy.maxAge}, ${fetchedAt}, ${expiresAt})
      on conflict (domain) do update set policy_id = excluded.policy_id, mode = excluded.mode, mx = excluded.mx,
        max_age = excluded.max_age, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`;
    remember(this.memo, domain, { row: { id, policy, expiresAt: expiresAt.getTime() }, readAt: nowMs() });
  }
}

/** Mode `none` is a policy that says "no policy" (§5): it replaces an enforce one in the cache, then applies nothing. */
function inForce(policy: StsPolicy): PolicyInForce {
  return policy.mode === "none" ? { policy: null } : { policy };
}
