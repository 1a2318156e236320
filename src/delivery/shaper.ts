// The destination shaper (F10): decides, for one message's transactions to one budget,
// whether they go now, wait a moment for their slot, or park until the budget has room;
// and turns what destinations answer into backoff (slow-down replies) and suspension
// (every connection refused). The state all worker processes share is in
// destination_state (SQL functions in drizzle/0017_destination_shaping_functions.sql).
//
// A budget without a rate limit and without backoff, suspension or failures costs no
// query per message: the shaper keeps the budgets that have such state in memory,
// re-read each second, and counts transactions locally, writing the counts once a second.
import { nowMs } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";
import { type PollLoop, startPollLoop } from "../util/poll-loop.ts";
import type { Budget, ConnectionPool } from "./connection-pool.ts";
import type { ConnectionSlots } from "./connection-slots.ts";
import type { ResolvedPolicy } from "./destination-policy.ts";
import type { Outcome } from "./outcome.ts";
import type { PolicyStore } from "./policy-store.ts";

/** Why a recipient waits without an attempt: the service code its `deferred` event carries. */
export type ParkReason = "shaped" | "destination_busy" | "destination_backoff" | "destination_suspended";

export interface Admission {
  /** Transactions that may go, the first at startMs, each next intervalMs later. */
  granted: number;
  startMs: number;
  intervalMs: number;
  /**
   * Whether each transaction must begin near its slot: the slots keep to a rate (the
   * policy's, or a backed-off budget's). Not for a high-priority credit: its slot was
   * reserved earlier, and it goes as soon as it has a connection.
   */
  paced: boolean;
  /** Where the transactions not granted wait. */
  park?: { until: Date; reason: ParkReason };
}

export interface ShaperOptions {
  /** A slot this close is waited for in the job; a later one parks the message. */
  maxWaitMs: number;
  backoffSeconds: number;
  recoverSeconds: number;
  suspendSeconds: number;
  suspendMaxSeconds: number;
  /** Attempts in a row, all processes, in which no server accepted a connection before a suspension. */
  suspendAfter: number;
}

/** What one process knows of a budget's shared state (for budgets that have any). */
interface Known {
  slowed: boolean;
  backoffUntil: number;
  suspendedUntil: number;
  failing: boolean;
}

const TICK_MS = 1000;
/** Spacing of parked messages of a budget that has no rate (while it is suspended, say). */
const SPREAD_S = 0.02;
const REASONS: Record<string, ParkReason> = { rate: "shaped", backoff: "destination_backoff", suspended: "destination_suspended" };
/**
 * Words of a 4xx that asks the sender to slow down. Not "too many recipients" (452: per
 * transaction), and not greylisting: "451 4.7.1 try again later" is what greylisting
 * says to every new sender, so "try later" alone backs a destination off only when the
 * server also closes the session (421); otherwise a provider's whole budget would pause
 * at every first contact, for what the ordinary retry resolves.
 */
const SLOW_DOWN = /\b(rate|too many|slow down|throttl\w*|exceeded|volume)\b/i;
const NOT_SLOW_DOWN = /too many recipients|greylist|graylist/i;

export class Shaper {
  private known = new Map<string, Known>();
  /** Transactions sent per budget per second, not yet written. */
  private counts = new Map<string, Map<number, number>>();
  private loop: PollLoop | undefined;
  private ticks = 0;

  constructor(
    private readonly db: Db,
    private readonly store: PolicyStore,
    private readonly opts: ShaperOptions,
    private readonly pool?: ConnectionPool,
    private readonly slots?: ConnectionSlots,
  ) {}

  /** Reads the shared state once, then keeps it (and this process's counts and leases) in step each second. */
  async start(): Promise<this> {
    await this.refresh();
    this.loop = startPollLoop(
      "destination shaping",
      async () => {
        await this.tick();
        return false;
      },
      TICK_MS,
    );
    return this;
  }

  async stop(): Promise<void> {
    await this.loop?.stop();
    await this.flush().catch(() => {});
  }

  resolve(domain: string, mxHosts: string[]): ResolvedPolicy {
    return this.store.resolve(domain, mxHosts);
  }

  budget(r: ResolvedPolicy): Budget {
    const p = r.policy;
    return { key: r.key, maxConnections: p.max_connections, messagesPerConnection: p.messages_per_connection, idleMs: p.idle_close_seconds * 1000 };
  }

  /** How many of `n` transactions to `r` may go (and when), and where the rest wait. */
  async admit(r: ResolvedPolicy, n: number, priority: number): Promise<Admission> {
    const at = nowMs();
    if (r.policy.messages_per_minute === null && !this.hasState(r.key, at)) return { granted: n, startMs: at, intervalMs: 0, paced: false };
    const [row] = await this.db.sql<
      { granted: number; startAt: Date | null; intervalS: number; parkAt: Date | null; reason: string | null; credit: boolean }[]
    >`
      select granted, start_at as "startAt", interval_s as "intervalS", park_at as "parkAt", reason, credit
      from destination_grant(${r.key}, ${new Date(at)}, ${r.policy.messages_per_minute}::int, ${n}::int, ${priority}::int,
        ${this.opts.maxWaitMs / 1000}::float8, ${SPREAD_S}::float8)`;
    if (!row) throw new Error(`destination_grant returned nothing for ${r.key}`);
    const paced = !row.credit && (r.policy.messages_per_minute !== null || this.known.get(r.key)?.slowed === true);
    const admission: Admission = { granted: row.granted, startMs: row.startAt?.getTime() ?? at, intervalMs: row.intervalS * 1000, paced };
    if (row.parkAt && row.reason) admission.park = { until: row.parkAt, reason: REASONS[row.reason] ?? "shaped" };
    return admission;
  }

  /** Counts one transaction to the budget (written once a second; sent_last_minute and the backoff base read it). */
  sent(key: string): void {
    const second = Math.floor(nowMs() / 1000) * 1000;
    const m = this.counts.get(key) ?? new Map<number, number>();
    m.set(second, (m.get(second) ?? 0) + 1);
    this.counts.set(key, m);
  }

  /**
   * Learns from one transaction's outcomes: a slow-down reply backs the budget off, an
   * attempt that reached no server counts towards suspension, and one that reached a
   * server ends a run of failures. Returns why the rest of the budget's work must wait.
   */
  async afterAttempt(r: ResolvedPolicy, outcomes: Outcome[]): Promise<{ reason: ParkReason; until: Date } | undefined> {
    const at = new Date(nowMs());
    if (outcomes.some(isSlowDown)) {
      const [row] = await this.db.sql<{ until: Date }[]>`
        select backoff_until as until from destination_backoff(${r.key}, ${at}, ${r.policy.messages_per_minute}::int,
          ${this.opts.backoffSeconds}::float8, ${this.opts.recoverSeconds}::float8)`;
      const until = row?.until ?? at;
      this.remember(r.key, { slowed: true, backoffUntil: until.getTime() });
      log.warn("destination asked to slow down; its rate is halved", { key: r.key, until: until.toISOString() });
      return { reason: "destination_backoff", until };
    }
    if (outcomes.length > 0 && outcomes.every(isConnectFailure)) {
      const [row] = await this.db.sql<{ until: Date | null }[]>`
        select destination_unreachable(${r.key}, ${at}, ${this.opts.suspendAfter}::int, ${this.opts.suspendSeconds}::float8,
          ${this.opts.suspendMaxSeconds}::float8) as until`;
      this.remember(r.key, { failing: true, suspendedUntil: row?.until?.getTime() ?? 0 });
      if (!row?.until) return undefined;
      log.warn("destination refuses every connection; suspended", { key: r.key, until: row.until.toISOString() });
      return { reason: "destination_suspended", until: row.until };
    }
    if (this.known.get(r.key)?.failing && outcomes.some((o) => !isConnectFailure(o) && o.service !== "destination_busy")) {
      await this.db.sql`update destination_state set connect_failures = 0, suspensions = 0, updated_at = ${at} where key = ${r.key}`;
      this.remember(r.key, { failing: false });
    }
    return undefined;
  }

  private hasState(key: string, at: number): boolean {
    const k = this.known.get(key);
    return k !== undefined && (k.slowed || k.failing || k.backoffUntil > at || k.suspendedUntil > at);
  }

  private remember(key: string, change: Partial<Known>): void {
    const k = this.known.get(key) ?? { slowed: false, backoffUntil: 0, suspendedUntil: 0, failing: false };
    this.known.set(key, { ...k, ...change });
  }

  /** Each second: counts out, shared state in, leases renewed; a budget another process found full gets one connection back. */
  private async tick(): Promise<void> {
    this.ticks++;
    await this.flush();
    await this.refresh();
    if (this.slots && this.pool) {
      for (const request of await this.slots.renew(3 * TICK_MS)) this.pool.handBack(request);
    }
  }

  /** Re-reads which budgets have state (backed off, suspended, failing) that makes even an unlimited one take the slow path. */
  private async refresh(): Promise<void> {
    const at = new Date(nowMs());
    const rows = await this.db.sql<{ key: string; slowed: boolean; backoffUntil: Date | null; suspendedUntil: Date | null; failing: boolean }[]>`
      select key, rate_factor < 1 as slowed, backoff_until as "backoffUntil", suspended_until as "suspendedUntil",
        (connect_failures > 0 or suspensions > 0) as failing
      from destination_state
      where rate_factor < 1 or backoff_until > ${at} or suspended_until > ${at} or connect_failures > 0 or suspensions > 0`;
    this.known = new Map(
      rows.map((r) => [
        r.key,
        { slowed: r.slowed, backoffUntil: r.backoffUntil?.getTime() ?? 0, suspendedUntil: r.suspendedUntil?.getTime() ?? 0, failing: r.failing },
      ]),
    );
  }

  /** Writes this process's transaction counts (one statement), and drops counts older than two minutes now and then. */
  private async flush(): Promise<void> {
    const rows = [...this.counts].flatMap(([key, m]) => [...m].map(([second, n]) => ({ key, second, n })));
    this.counts = new Map();
    if (rows.length > 0) {
      await this.db.sql`
        insert into destination_sent (key, second, n)
        select * from unnest(${rows.map((r) => r.key)}::text[], ${rows.map((r) => new Date(r.second).toISOString())}::timestamptz[], ${rows.map((r) => r.n)}::int[])
        on conflict (key, second) do update set n = destination_sent.n + excluded.n`;
    }
    if (this.ticks % 10 === 0) await this.db.sql`delete from destination_sent where second < ${new Date(nowMs() - 120_000)}`;
  }
}

/** A destination's own 4xx asking to slow down: a 421, or words like "rate", "too many", "slow down", "throttled". */
export function isSlowDown(o: Outcome): boolean {
  if (o.source !== "destination" || o.kind !== "deferred") return false;
  if (NOT_SLOW_DOWN.test(o.response)) return false;
  return o.code === 421 || SLOW_DOWN.test(o.response);
}

/** No server accepted a connection: refused, closed before the greeting, or timed out connecting (the session never had a TLS state). */
export function isConnectFailure(o: Outcome): boolean {
  return o.source === "hikyaku" && (o.service === "connection_failed" || (o.service === "timeout" && o.tls === null));
}
