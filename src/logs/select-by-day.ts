// A log query with a time range, read one UTC day at a time: each day's events come out
// of (account_id, day, tx, id, created_at) already in page order, and the days are
// merged. However far back the range lies, a page reads about as many index entries as
// it shows (plus the part of the first and last day outside the range, cut on the
// index's created_at without reading those rows).
import type { Sql } from "../db/client.ts";
import { nowMs } from "../clock.ts";
import { columns, logTable } from "./columns.ts";
import { dayExpr, filters, type Query, visible, withHorizon } from "./conditions.ts";
import type { LogPosition } from "./cursor.ts";
import type { LogFilter } from "./filter.ts";

const DAY = 86_400_000;
/** More days than this (a log nobody has pruned) are read as one sorted range. */
const MAX_DAYS = 64;

export interface DaySpan {
  /** The range's days (an open end is infinite). */
  lo: number;
  hi: number;
  /** The days read one by one: the range, cut to the days that hold events. */
  first: number;
  last: number;
  /** Days before `first` hold events too (more than MAX_DAYS of them). */
  capped: boolean;
}

/** Which days of the range hold the account's events (as this statement's snapshot sees them). */
export async function daySpan(sql: Sql, f: LogFilter): Promise<DaySpan> {
  const lo = f.since ? Math.floor(f.since.getTime() / DAY) : Number.NEGATIVE_INFINITY;
  const hi = f.until ? Math.floor((f.until.getTime() - 1) / DAY) : Number.POSITIVE_INFINITY;
  const [held] = await sql<{ first: number | null; last: number | null }[]>`
    select
      (select ${dayExpr(sql)} from ${logTable(sql, f)} where account_id = ${f.accountId} order by ${dayExpr(sql)} limit 1) as first,
      (select ${dayExpr(sql)} from ${logTable(sql, f)} where account_id = ${f.accountId} order by ${dayExpr(sql)} desc limit 1) as last`;
  const today = Math.floor(nowMs() / DAY);
  const last = Math.min(hi, held?.last ?? today);
  const first = Math.max(lo, held?.first ?? today, last - MAX_DAYS + 1);
  return { lo, hi, first, last, capped: first > Math.max(lo, held?.first ?? today) };
}

export interface ByDayOptions {
  after?: LogPosition;
  limit?: number;
  /**
   * Also read the days outside `first..last`. Needed when the span was found by an
   * earlier snapshot than the query's: an event can arrive on a new day meanwhile.
   */
  open: boolean;
}

export function selectByDay(sql: Sql, f: LogFilter, days: DaySpan, o: ByDayOptions): Query {
  const limit = o.limit === undefined ? sql`` : sql`limit ${o.limit}`;
  const branch = (range: Query, what: Query) => sql`
    select ${what} from ${logTable(sql, f)}
    where ${visible(sql, f.accountId, o.after)} and ${range} ${filters(sql, f)}
    order by tx desc, id desc ${limit}`;
  // Several days at once are sorted; the fence (offset 0) keeps the planner reading them
  // through the day index rather than walking the whole log in tx order to find them.
  const sorted = (range: Query, what: Query) => sql`
    select * from (
      select ${what} from ${logTable(sql, f)}
      where ${visible(sql, f.accountId, o.after)} and ${range} ${filters(sql, f)} offset 0
    ) r order by tx desc, id desc ${limit}`;
  const parts = (what: Query) => {
    const list: Query[] = [];
    if (o.open ? days.first > days.lo : days.capped) {
      list.push(sorted(sql`${dayExpr(sql)} < ${days.first}`, what));
    }
    for (let d = days.first; d <= days.last; d++) list.push(branch(sql`${dayExpr(sql)} = ${d}`, what));
    if (o.open && days.last < days.hi) list.push(sorted(sql`${dayExpr(sql)} > ${days.last}`, what));
    const none = sql`select ${what} from ${logTable(sql, f)} where false`;
    return list.slice(1).reduce((all, p) => sql`${all} union all (${p})`, sql`(${list[0] ?? none})`);
  };
  if (o.limit === undefined) {
    return withHorizon(sql, sql`select * from (${parts(columns(sql, f))}) e order by tx desc, id desc`);
  }
  // Pick the page's ids from the index alone, then read just those rows.
  return withHorizon(
    sql,
    sql`
      select ${columns(sql, f)} from ${logTable(sql, f)}
      where id = any(array(select id from (${parts(sql`tx, id`)}) p order by tx desc, id desc limit ${o.limit}))
      order by tx desc, id desc`,
  );
}
