// Turns a time range into the range of transaction ids its events carry, so that every
// index ending in (tx, id) can jump straight to the range instead of walking through all
// the newer events first. The (account_id, day, tx, id, created_at) index answers it with
// one short probe per UTC day of the range: the smallest tx of the range's events in that
// day, and the largest. Exact, not an estimate: an event written late, or with a clock
// running behind, only widens the range.
import type { Sql } from "../db/client.ts";
import { dayExpr } from "./conditions.ts";
import type { LogFilter } from "./filter.ts";

const DAY = 86_400_000;

export interface TxRange {
  /** Lowest and highest tx of the range's events (decimal xid8); null: no bound needed. */
  from: string | null;
  to: string | null;
  /** No event lies in the range. */
  empty: boolean;
}

export async function txRange(sql: Sql, f: LogFilter): Promise<TxRange> {
  const table = sql(f.type === "delivery" ? "delivery_events" : "reception_events");
  const lo = f.since ? Math.floor(f.since.getTime() / DAY) : null;
  const hi = f.until ? Math.floor((f.until.getTime() - 1) / DAY) : null;
  const inRange = sql`
    account_id = ${f.accountId} and ${dayExpr(sql)} = d
    ${f.since ? sql`and created_at >= ${f.since}` : sql``}
    ${f.until ? sql`and created_at < ${f.until}` : sql``}`;
  const [r] = await sql<{ from: string | null; to: string | null }[]>`
    with days as (
      select generate_series(
        greatest(${lo}::int, (select ${dayExpr(sql)} from ${table} where account_id = ${f.accountId} order by ${dayExpr(sql)} limit 1)),
        least(${hi}::int, (select ${dayExpr(sql)} from ${table} where account_id = ${f.accountId} order by ${dayExpr(sql)} desc limit 1))
      ) as d
    )
    select
      (select min(m.tx) from days, lateral (select tx from ${table} where ${inRange} order by tx limit 1) m) as from,
      (select max(m.tx) from days, lateral (select tx from ${table} where ${inRange} order by tx desc limit 1) m) as to`;
  if (!r?.from || !r.to) return { from: null, to: null, empty: true };
  return { from: f.since ? r.from : null, to: f.until ? r.to : null, empty: false };
}
