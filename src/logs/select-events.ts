// The one query behind the log API, the CSV export and the bench: one account's events,
// filtered, newest first in (tx, id) order.
//
// Why tx and not the id or the time: identity ids and clock times are taken before a
// transaction commits, so a slow transaction can commit an event that sorts between
// events a reader has already paged past, and that reader would never see it. Here an
// event is shown only once every transaction that began before its own has finished
// (tx below the horizon, see conditions.ts); anything that becomes visible later
// therefore sorts above everything shown so far. The delay this adds is the length of
// the longest write transaction in this database at that moment: milliseconds.
// (postgres.js hands xid8 values over as decimal text.)
//
// Three shapes, all giving the same rows in the same order, each reading an index whose
// key ends in (tx, id) so that a page stops right after its last row:
// - ordered: one index per filter (several events: one range each, merged);
// - by tag: delivery_event_tags joined to its events;
// - by day (select-by-day.ts): a time range, one UTC day at a time, merged.
import type { Row } from "postgres";
import type { Db, Sql } from "../db/client.ts";
import { columns, logTable } from "./columns.ts";
import { filters, type Query, visible, withHorizon } from "./conditions.ts";
import type { LogPosition } from "./cursor.ts";
import type { LogFilter } from "./filter.ts";
import { daySpan, selectByDay } from "./select-by-day.ts";

/** One page: the events after `after`, at most `limit` of them. */
export async function selectPage(db: Db, f: LogFilter, o: { after?: LogPosition; limit: number }): Promise<Row[]> {
  if (!byDay(f)) return await plain(db.sql, f, o.after, o.limit);
  // The days to read and the page come from one snapshot, so no event can land on a day
  // the page did not read.
  return db.sql.begin("isolation level repeatable read read only", async (tx) => {
    const sql = tx as unknown as Sql; // the same tagged template, inside the transaction
    const days = await daySpan(sql, f);
    return await selectByDay(sql, f, days, { after: o.after, limit: o.limit, open: false });
  });
}

/** Every matching event (or the first `limit`), as a query to read through a cursor (the CSV export). */
export async function selectAll(db: Db, f: LogFilter, limit?: number): Promise<{ query: Query }> {
  if (!byDay(f)) return { query: plain(db.sql, f, undefined, limit) };
  const days = await daySpan(db.sql, f);
  return { query: selectByDay(db.sql, f, days, { limit, open: true }) };
}

/** An exact recipient or message has few events: its own index beats reading days. */
const byDay = (f: LogFilter) => Boolean(f.since || f.until) && !(f.type === "delivery" && f.tag !== undefined) && !f.recipient && !f.messageId;

function plain(sql: Sql, f: LogFilter, after?: LogPosition, limit?: number): Query {
  return f.type === "delivery" && f.tag !== undefined ? byTag(sql, f, after, limit) : ordered(sql, f, after, limit);
}

const limitClause = (sql: Sql, limit?: number) => (limit === undefined ? sql`` : sql`limit ${limit}`);

function ordered(sql: Sql, f: LogFilter, after?: LogPosition, limit?: number): Query {
  const branch = (event?: string) => sql`
    select ${columns(sql, f)} from ${logTable(sql, f)}
    where ${visible(sql, f.accountId, after)} ${filters(sql, f, { event })}
    order by tx desc, id desc ${limitClause(sql, limit)}`;
  const events = f.type === "delivery" && f.events?.length ? [...new Set(f.events)] : [];
  if (events.length <= 1) return withHorizon(sql, branch(events[0]));
  // One index range per event, merged: `event = any(...)` could not come out of the
  // (account_id, event, tx, id) index already in page order.
  const union = events.slice(1).reduce((all, e) => sql`${all} union all (${branch(e)})`, sql`(${branch(events[0])})`);
  return withHorizon(sql, sql`select * from (${union}) e order by tx desc, id desc ${limitClause(sql, limit)}`);
}

function byTag(sql: Sql, f: LogFilter, after?: LogPosition, limit?: number): Query {
  return withHorizon(
    sql,
    sql`
      select ${columns(sql, f, "e")}
      from delivery_event_tags t join delivery_events e on e.id = t.event_id
      where ${visible(sql, f.accountId, after, "t")} and t.tag = ${f.tag ?? ""}
        ${f.since ? sql`and t.created_at >= ${f.since}` : sql``}
        ${f.until ? sql`and t.created_at < ${f.until}` : sql``}
        ${filters(sql, f, { alias: "e", tagDone: true })}
      order by t.tx desc, t.event_id desc ${limitClause(sql, limit)}`,
  );
}
