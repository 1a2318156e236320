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
// Two shapes, giving the same rows in the same order, each reading an index whose key
// ends in (tx, id) so that a page stops right after its last row:
// - ordered: one index per filter (several events: one range each, merged);
// - by tag: delivery_event_tags joined to its events.
// A time range first becomes a range of tx (tx-range.ts), so that a range far in the
// past is reached without walking through everything newer.
import type { Row } from "postgres";
import type { Db, Sql } from "../db/client.ts";
import { columns, logTable } from "./columns.ts";
import { type At, filters, horizon, type Query, timeRange, visible } from "./conditions.ts";
import type { LogPosition } from "./cursor.ts";
import type { LogFilter } from "./filter.ts";
import { txRange } from "./tx-range.ts";

/** One page: the events after `after`, at most `limit` of them. */
export async function selectPage(db: Db, f: LogFilter, o: { after?: LogPosition; limit: number }): Promise<Row[]> {
  // A first page is cut at the horizon, taken before (so below) the page's own snapshot.
  const at: At = o.after ? { after: o.after } : { horizon: await horizon(db.sql) };
  if (!f.since && !f.until) return await shaped(db.sql, f, at, o.limit);
  // The tx range and the page come from one snapshot, so no event of the time range can
  // lie outside the tx range the page reads.
  return db.sql.begin("isolation level repeatable read read only", async (tx) => {
    const sql = tx as unknown as Sql; // the same tagged template, inside the transaction
    const range = await txRange(sql, f);
    return range.empty ? ([] as Row[]) : await shaped(sql, f, { ...at, range }, o.limit);
  });
}

/** Every matching event (or the first `limit`), as a query to read through a cursor (the CSV export). */
export async function selectAll(db: Db, f: LogFilter, limit?: number): Promise<{ query: Query }> {
  const at: At = { horizon: await horizon(db.sql) };
  if (!f.since && !f.until) return { query: shaped(db.sql, f, at, limit) };
  // An event committed between these statements is one the export began too early
  // to include, as if it had come a moment later.
  const range = await txRange(db.sql, f);
  return { query: shaped(db.sql, f, range.empty ? at : { ...at, range }, limit) };
}

function shaped(sql: Sql, f: LogFilter, at: At, limit?: number): Query {
  return f.type === "delivery" && f.tag !== undefined ? byTag(sql, f, at, limit) : ordered(sql, f, at, limit);
}

const limitClause = (sql: Sql, limit?: number) => (limit === undefined ? sql`` : sql`limit ${limit}`);

function ordered(sql: Sql, f: LogFilter, at: At, limit?: number): Query {
  const branch = (event?: string) => sql`
    select ${columns(sql, f)} from ${logTable(sql, f)}
    where ${visible(sql, f.accountId, at)} ${filters(sql, f, { event, timeAsFilter: Boolean(at.range) })}
    order by tx desc, id desc ${limitClause(sql, limit)}`;
  const events = f.type === "delivery" && f.events?.length ? [...new Set(f.events)] : [];
  if (events.length <= 1) return branch(events[0]);
  // One index range per event, merged: `event = any(...)` could not come out of the
  // (account_id, event, tx, id) index already in page order.
  const union = events.slice(1).reduce((all, e) => sql`${all} union all (${branch(e)})`, sql`(${branch(events[0])})`);
  return sql`select * from (${union}) e order by tx desc, id desc ${limitClause(sql, limit)}`;
}

function byTag(sql: Sql, f: LogFilter, at: At, limit?: number): Query {
  return sql`
      select ${columns(sql, f, "e")}
      from delivery_event_tags t join delivery_events e on e.id = t.event_id
      where ${visible(sql, f.accountId, at, "t")} and t.tag = ${f.tag ?? ""}
        ${timeRange(sql, f, sql`t.created_at`, Boolean(at.range))}
        ${filters(sql, { ...f, since: undefined, until: undefined }, { alias: "e", tagDone: true })}
      order by t.tx desc, t.event_id desc ${limitClause(sql, limit)}`;
}
