// The WHERE clauses every shape of the log query shares: the account, the visibility
// horizon, the cursor, and each filter of a LogFilter.
import type { PendingQuery, Row } from "postgres";
import type { Sql } from "../db/client.ts";
import type { LogPosition } from "./cursor.ts";
import type { LogFilter } from "./filter.ts";
import type { TxRange } from "./tx-range.ts";

export type Query = PendingQuery<Row[]>;

/** Where a page of the log reads from: below a cursor, or (a first page) below the horizon (from horizon(), decimal xid8). */
export type At = ({ after: LogPosition } | { horizon: string }) & { range?: TxRange };

const HORIZON_TRIES = 8;

/**
 * `h`, the oldest transaction that may still commit rows a statement started after this
 * one cannot see: the oldest one running in this database when this statement's snapshot
 * was taken (or, with none, the snapshot's xmax: none below it was running). Every
 * transaction below `h` has ended, so a later statement (or transaction) sees all of
 * their rows; a first page is cut at `h`. Transactions of other databases on the same
 * server (running in a session, or prepared for two-phase commit) are left out, so a
 * long one there cannot hold the log back; one whose database cannot be told (it ended
 * between the snapshot and the look at pg_stat_activity, or its session is hidden from
 * this role) counts as ours, so `h` errs low, never high. On a standby the snapshot
 * does not list the primary's running transactions by themselves, so there `h` is the
 * snapshot's xmin, which counts every database's.
 *
 * Erring low hides the newest events for a moment. When the transaction that set `h`
 * was one that ended in that gap (of another database, most likely: the test suite's
 * databases share one server), the look is taken again with a new snapshot, in which it
 * has gone: otherwise an event committed just before the read could be missing from it
 * (a flake of test/logs-shapes.test.ts, when the look came a statement after the
 * snapshot). Beside a neighbour database running six sessions of short transactions,
 * about one look in ten needs another, independently of the look before; three tries
 * missed about one read in a thousand (CI found one in 400), so there are eight. After
 * them the low `h` stands: the read shows the newest events a moment later, no worse.
 *
 * Only the first page of a walk is cut at `h`: a later page is cut at its cursor, which
 * lies below the first page's `h`, where every transaction had already ended. Cutting it
 * at a new `h`, lower than the first (the look can err low), would hide events between
 * that `h` and the cursor from this walk, and they would then sort below events the
 * reader already has (found under load in test/logs-paging.test.ts).
 */
export async function horizon(sql: Sql): Promise<string> {
  for (let i = 1; ; i++) {
    const [r] = await sql<{ tx: string; doubt: boolean }[]>`
      with s as (select pg_current_snapshot() as s),
      running as materialized (
        select a.backend_xid as xid, a.datid <> d.oid as elsewhere
        from pg_stat_get_activity(null) a, pg_database d
        where d.datname = current_database() and a.backend_xid is not null
      ),
      untold as (
        select x, not exists (select 1 from running r where r.xid = x::xid) as unseen
        from s, pg_snapshot_xip(s.s) x
        where not exists (select 1 from running r where r.xid = x::xid and r.elsewhere)
          and not exists (select 1 from pg_prepared_xacts p where p.transaction = x::xid and p.database <> current_database())
        order by x limit 1
      )
      select
        case when pg_is_in_recovery() then (select pg_snapshot_xmin(s) from s)::text
          else coalesce((select x from untold), (select pg_snapshot_xmax(s) from s))::text end as tx,
        coalesce((select unseen and pg_xact_status(x) <> 'in progress' from untold), false) as doubt`;
    if (!r) throw new Error("the log horizon statement returned no row");
    if (!r.doubt || i === HORIZON_TRIES) return r.tx;
  }
}

/**
 * The account, the horizon or the cursor (see horizon()) and the tx range of a time
 * range (tx-range.ts): the leading keys of every log index.
 */
export function visible(sql: Sql, accountId: string, at: At, alias?: string): Query {
  const c = (name: string) => sql(alias ? `${alias}.${name}` : name);
  const id = alias === "t" ? sql`t.event_id` : c("id");
  const { range } = at;
  return sql`
    ${c("account_id")} = ${accountId}
    ${"after" in at ? sql`and (${c("tx")}, ${id}) < (${at.after.tx}::xid8, ${at.after.id}::bigint)` : sql`and ${c("tx")} < ${at.horizon}::xid8`}
    ${range?.from ? sql`and ${c("tx")} >= ${range.from}::xid8` : sql``}
    ${range?.to ? sql`and ${c("tx")} <= ${range.to}::xid8` : sql``}`;
}

/** The UTC day of created_at, exactly as the (account_id, day, tx, id, created_at) indexes compute it. */
export const dayExpr = (sql: Sql) => sql`(floor(extract(epoch from (created_at - '1970-01-01 00:00:00+00'::timestamptz)) / 86400)::int)`;

export interface FilterShape {
  /** Column qualifier, for the by-tag join. */
  alias?: string;
  /** Narrow to one event (an ordered branch of several). */
  event?: string;
  /** The tag is already matched by a join. */
  tagDone?: boolean;
  /**
   * The time range is already narrowed to a tx range: check created_at only as a filter.
   * (Written so the planner cannot estimate it; it would take the two correlated ranges
   * for independent ones, expect a few rows, and sort the whole day index.)
   */
  timeAsFilter?: boolean;
}

export function filters(sql: Sql, f: LogFilter, s: FilterShape = {}): Query {
  const c = (name: string) => sql(s.alias ? `${s.alias}.${name}` : name);
  const eq = (name: string, v: string | undefined) => (v === undefined ? sql`` : sql`and ${c(name)} = ${v}`);
  const events = s.event !== undefined ? [s.event] : (f.events ?? []);
  return sql`
    ${timeRange(sql, f, c("created_at"), s.timeAsFilter ?? false)}
    ${f.type === "delivery" ? eventCondition(sql, s.alias, events) : acceptedCondition(sql, events)}
    ${eq("recipient", f.recipient)}
    ${f.recipientDomain === undefined ? sql`` : sql`and split_part(${c("recipient")}, '@', 2) = ${f.recipientDomain}`}
    ${eq("envelope_sender", f.envelopeSender)}
    ${eq("source_ip", f.sourceIp)}
    ${eq("channel", f.channel)}
    ${eq("message_id", f.messageId)}
    ${f.tag === undefined || s.tagDone ? sql`` : sql`and ${c("tags")} @> array[${f.tag}]::text[]`}`;
}

/** created_at within since/until; `opaque`: see FilterShape.timeAsFilter. */
export function timeRange(sql: Sql, f: LogFilter, column: unknown, opaque: boolean): Query {
  const col = column as Query;
  const since = f.since ? (opaque ? sql`and (${col} >= ${f.since}) is not false` : sql`and ${col} >= ${f.since}`) : sql``;
  const until = f.until ? (opaque ? sql`and (${col} < ${f.until}) is not false` : sql`and ${col} < ${f.until}`) : sql``;
  return sql`${since} ${until}`;
}

function eventCondition(sql: Sql, alias: string | undefined, events: string[]): Query {
  const column = sql(alias ? `${alias}.event` : "event");
  if (events.length === 0) return sql``;
  if (events.length === 1) return sql`and ${column} = ${events[0] ?? ""}`;
  return sql`and ${column} = any(${events}::text[])`;
}

function acceptedCondition(sql: Sql, events: string[]): Query {
  const accepted = events.includes("accepted");
  if (accepted === events.includes("refused")) return sql``;
  return sql`and accepted = ${accepted}`;
}
