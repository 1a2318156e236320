// The one SQL query behind the log API, the CSV export and the bench: one account's
// events, filtered, newest first in (tx, id) order.
//
// Why tx and not the id or the time: identity ids and clock times are taken before a
// transaction commits, so a slow transaction can commit an event that sorts between
// events a reader has already paged past, and that reader would never see it. Here an
// event is shown only once every transaction that began before its own has finished
// (tx below the horizon below); anything that becomes visible later therefore sorts
// above everything shown so far. The delay this adds is the length of the longest
// write transaction in this database running at that moment: milliseconds.
// (postgres.js hands xid8 values over as decimal text.)
//
// Three shapes, all giving the same rows in the same order:
// - ordered: an index whose key ends in (tx, id) per filter, read backwards and merged,
//   so a page stops after its last row;
// - by tag: the same, driven from delivery_event_tags;
// - windowed: a time range that ends well in the past is read whole through
//   (account_id, created_at, tx, id) and sorted, instead of walking backwards through
//   every newer event to reach it.
import type { PendingQuery, Row } from "postgres";
import { nowMs } from "../clock.ts";
import type { Sql } from "../db/client.ts";
import type { LogPosition } from "./cursor.ts";
import type { LogFilter } from "./filter.ts";

export interface SelectOptions {
  /** Continue strictly after this position. */
  after?: LogPosition;
  /** Omit to read every matching event (the CSV export). */
  limit?: number;
  /** How far back the log reaches; only used to choose the query's shape. */
  retentionDays?: number;
}

type Query = PendingQuery<Row[]>;

export function selectEvents(sql: Sql, f: LogFilter, o: SelectOptions = {}): Query {
  if (o.limit !== undefined && endsWellInThePast(f, o.retentionDays ?? 31)) return windowed(sql, f, o.limit, o.after);
  if (f.type === "delivery" && f.tag !== undefined) return byTag(sql, f, o);
  return ordered(sql, f, o);
}

/** True when fewer events lie inside the range than after its end. */
function endsWellInThePast(f: LogFilter, retentionDays: number): boolean {
  if (!f.until) return false;
  const now = nowMs();
  const until = Math.min(f.until.getTime(), now);
  const since = Math.max(f.since?.getTime() ?? 0, now - retentionDays * 86_400_000);
  return until - since < now - until;
}

const table = (sql: Sql, f: LogFilter) => sql(f.type === "delivery" ? "delivery_events" : "reception_events");
const limitClause = (sql: Sql, limit?: number) => (limit === undefined ? sql`` : sql`limit ${limit}`);

function ordered(sql: Sql, f: LogFilter, o: SelectOptions): Query {
  const branch = (event?: string) => sql`
    select ${columns(sql, f)} from ${table(sql, f)}
    where ${visible(sql, f.accountId, o.after)} ${filters(sql, f, { event })}
    order by tx desc, id desc ${limitClause(sql, o.limit)}`;
  const events = f.type === "delivery" && f.events?.length ? [...new Set(f.events)] : [];
  if (events.length <= 1) return branch(events[0]);
  // One index range per event, merged: `event = any(...)` could not come out of the
  // (account_id, event, tx, id) index already in page order.
  const union = events.slice(1).reduce((all, e) => sql`${all} union all (${branch(e)})`, sql`(${branch(events[0])})`);
  return sql`select * from (${union}) e order by tx desc, id desc ${limitClause(sql, o.limit)}`;
}

function byTag(sql: Sql, f: LogFilter, o: SelectOptions): Query {
  return sql`
    select ${columns(sql, f, "e")}
    from delivery_event_tags t join delivery_events e on e.id = t.event_id
    where t.account_id = ${f.accountId} and t.tag = ${f.tag ?? ""}
      and t.tx < ${horizon(sql)}
      ${o.after ? sql`and (t.tx, t.event_id) < (${o.after.tx}::xid8, ${o.after.id}::bigint)` : sql``}
      ${filters(sql, f, { alias: "e", events: f.events, tagDone: true })}
    order by t.tx desc, t.event_id desc ${limitClause(sql, o.limit)}`;
}

function windowed(sql: Sql, f: LogFilter, limit: number, after?: LogPosition): Query {
  return sql`
    with w as materialized (
      select tx, id from ${table(sql, f)}
      where ${visible(sql, f.accountId, after)} ${filters(sql, f, { events: f.events })}
    )
    select ${columns(sql, f)} from ${table(sql, f)}
    where id in (select id from w order by tx desc, id desc limit ${limit})
    order by tx desc, id desc`;
}

function columns(sql: Sql, f: LogFilter, alias?: string): Query {
  const names =
    f.type === "delivery"
      ? [
          "id",
          "tx",
          "created_at",
          "event",
          "message_id",
          "recipient",
          "envelope_sender",
          "source_ip",
          "channel",
          "attempt",
          "mx_host",
          "mx_ip",
          "tls",
          "code",
          "enhanced_code",
          "response",
          "code_source",
          "tags",
        ]
      : ["id", "tx", "created_at", "accepted", "channel", "source_ip", "envelope_sender", "recipient_count", "code", "enhanced_code", "reason", "message_id"];
  return sql`${sql(alias ? names.map((n) => `${alias}.${n}`) : names)}`;
}

/**
 * The oldest transaction that may still commit rows this query cannot see: the oldest
 * one running in this database when the query's snapshot was taken (or, with none, the
 * next one to start). Transactions of other databases on the same server are left out,
 * so a long one there cannot hold the log back; one whose database cannot be told (it
 * ended meanwhile, or its session is hidden from this role) counts as ours.
 */
function horizon(sql: Sql): Query {
  return sql`(
    with s as (select pg_current_snapshot() as s)
    select coalesce(
      (select min(x) from s, pg_snapshot_xip(s.s) x
       where not exists (
         select 1 from pg_stat_get_activity(null) a
         where a.backend_xid = x::xid and a.datid <> (select oid from pg_database where datname = current_database()))),
      (select pg_snapshot_xmax(s) from s)))`;
}

/** The account, the visibility horizon and the cursor: the leading keys of every index. */
function visible(sql: Sql, accountId: string, after?: LogPosition): Query {
  return sql`
    account_id = ${accountId}
    and tx < ${horizon(sql)}
    ${after ? sql`and (tx, id) < (${after.tx}::xid8, ${after.id}::bigint)` : sql``}`;
}

interface FilterShape {
  /** Column qualifier, for the by-tag join. */
  alias?: string;
  /** One event (an ordered branch) ... */
  event?: string;
  /** ... or any of several (one scan). */
  events?: string[];
  /** The tag is already matched by a join. */
  tagDone?: boolean;
}

function filters(sql: Sql, f: LogFilter, s: FilterShape): Query {
  const c = (name: string) => sql(s.alias ? `${s.alias}.${name}` : name);
  const eq = (name: string, v: string | undefined) => (v === undefined ? sql`` : sql`and ${c(name)} = ${v}`);
  const events = s.event !== undefined ? [s.event] : (s.events ?? []);
  return sql`
    ${f.since ? sql`and ${c("created_at")} >= ${f.since}` : sql``}
    ${f.until ? sql`and ${c("created_at")} < ${f.until}` : sql``}
    ${f.type === "delivery" ? eventCondition(sql, s.alias, events) : acceptedCondition(sql, events)}
    ${eq("recipient", f.recipient)}
    ${f.recipientDomain === undefined ? sql`` : sql`and split_part(${c("recipient")}, '@', 2) = ${f.recipientDomain}`}
    ${eq("envelope_sender", f.envelopeSender)}
    ${eq("source_ip", f.sourceIp)}
    ${eq("channel", f.channel)}
    ${eq("message_id", f.messageId)}
    ${f.tag === undefined || s.tagDone ? sql`` : sql`and ${c("tags")} @> array[${f.tag}]::text[]`}`;
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
