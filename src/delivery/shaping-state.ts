// The live state of each destination budget, as the admin API and the console show it
// (GET /v1/admin/destination-policies). Written by src/delivery/shaper.ts.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { type Overrides, resolvePolicy } from "./destination-policy.ts";
import { readOverrides } from "./policy-store.ts";

export interface LiveState {
  /** The budget key (ResolvedPolicy.key). */
  key: string;
  /** The limit in force now, after backoff; null: no limit. */
  effective_messages_per_minute: number | null;
  /** Messages sent to this budget in the last 60 s, all processes together. */
  sent_last_minute: number;
  /** 1 normally; halved by each slow-down reply, recovering over time. */
  rate_factor: number;
  backoff_until: Date | null;
  suspended_until: Date | null;
  /** Connections open now, all processes together. */
  connections_in_use: number;
}

/**
 * Every budget that has state, sent mail in the last minute, or open connections, by key.
 * The limit shown is the one of the policy in force now (`overrides` as stored), times the
 * backoff: not the one the shaper stored at its last grant, which a PUT that raises,
 * lowers or removes the limit leaves behind (with no limit, a budget without backoff
 * state gets no grant, so the old one would stay for ever). Workers read a changed
 * policy within about a second.
 */
export async function readLiveStates(db: Db, overrides: Overrides, at: Date = now()): Promise<LiveState[]> {
  const minuteAgo = new Date(at.getTime() - 60_000);
  const rows = await db.sql<
    {
      key: string;
      backoffBase: number | null;
      factor: number;
      backoffUntil: Date | null;
      suspendedUntil: Date | null;
      sent: number;
      connections: number;
    }[]
  >`
    with keys as (
      select key from destination_state
      union select key from destination_sent where second > ${minuteAgo}
      union select key from destination_connections where expires_at > ${at}
    )
    select k.key, s.backoff_base as "backoffBase",
      coalesce(destination_rate_factor(s.rate_factor, s.recover_from, s.recover_seconds, ${at}), 1) as factor,
      case when s.backoff_until > ${at} then s.backoff_until end as "backoffUntil",
      case when s.suspended_until > ${at} then s.suspended_until end as "suspendedUntil",
      (select coalesce(sum(n), 0)::int from destination_sent c where c.key = k.key and c.second > ${minuteAgo}) as sent,
      (select count(*)::int from destination_connections c where c.key = k.key and c.expires_at > ${at}) as connections
    from keys k left join destination_state s on s.key = k.key
    order by k.key`;
  return rows.map((r) => ({
    key: r.key,
    effective_messages_per_minute: effectiveLimit(limitInForce(r.key, overrides), r.backoffBase, r.factor),
    sent_last_minute: r.sent,
    rate_factor: r.factor,
    backoff_until: r.backoffUntil,
    suspended_until: r.suspendedUntil,
    connections_in_use: r.connections,
  }));
}

/** The operator's overrides stored now and every budget's live state under them: what the admin API, the console and /metrics show. */
export async function readPoliciesInForce(db: Db): Promise<{ overrides: Overrides; states: LiveState[] }> {
  const overrides = await readOverrides(db);
  return { overrides, states: await readLiveStates(db, overrides) };
}

/**
 * The messages per minute of the policy whose budget `key` is: a named policy's key is its
 * domain (an alias's or an MX suffix's mail counts against it too), a `*` budget's is
 * `*:<MX group>` (which names no policy, so it finds `*`). The left-over state of a key
 * whose override was deleted shows `*`'s limit; its mail has gone to another budget.
 */
function limitInForce(key: string, overrides: Overrides): number | null {
  return resolvePolicy(key, [], overrides).policy.messages_per_minute;
}

/** The policy's limit times the factor; a budget without a limit has one only while backed off (its observed rate, reduced). */
function effectiveLimit(limit: number | null, backoffBase: number | null, factor: number): number | null {
  if (limit !== null) return Math.max(1, Math.floor(limit * factor));
  if (backoffBase !== null && factor < 1) return Math.max(1, Math.floor(backoffBase * factor));
  return null;
}
