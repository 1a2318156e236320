// Per-day counts of one account's month, in its time zone, for the usage chart: messages
// accepted (reception log) and final results (delivery log). The log keeps 31 days, so
// this covers the current month; the month's totals come from the durable usage counters.
import type { Db } from "../db/client.ts";
import { dayExpr } from "./conditions.ts";

export interface DayCounts {
  /** YYYY-MM-DD in the account's time zone. */
  day: string;
  accepted: number;
  delivered: number;
  bounced: number;
  expired: number;
}

/** Every day of `month` (YYYY-MM), zeros included. */
export async function dailyCounts(db: Db, accountId: string, month: string, timeZone: string): Promise<DayCounts[]> {
  const sql = db.sql;
  const start = sql`(${`${month}-01`}::date::timestamp at time zone ${timeZone})`;
  const end = sql`((${`${month}-01`}::date + interval '1 month')::timestamp at time zone ${timeZone})`;
  // The (account_id, day, ...) indexes find the month's rows; created_at then cuts at the zone's midnights.
  const days = sql`${dayExpr(sql)} between floor(extract(epoch from ${start}) / 86400)::int and floor(extract(epoch from ${end}) / 86400)::int`;
  const localDay = sql`to_char(created_at at time zone ${timeZone}, 'YYYY-MM-DD')`;
  return sql<DayCounts[]>`
    with d as (
      select to_char(g, 'YYYY-MM-DD') as day
      from generate_series(${`${month}-01`}::date, (${`${month}-01`}::date + interval '1 month' - interval '1 day'), interval '1 day') g
    ),
    r as (
      select ${localDay} as day, count(*)::int as accepted from reception_events
      where account_id = ${accountId} and accepted and ${days} and created_at >= ${start} and created_at < ${end}
      group by 1
    ),
    e as (
      select ${localDay} as day,
        count(*) filter (where event = 'delivered')::int as delivered,
        count(*) filter (where event = 'bounced')::int as bounced,
        count(*) filter (where event = 'expired')::int as expired
      from delivery_events
      where account_id = ${accountId} and event in ('delivered', 'bounced', 'expired') and ${days} and created_at >= ${start} and created_at < ${end}
      group by 1
    )
    select d.day, coalesce(r.accepted, 0) as accepted, coalesce(e.delivered, 0) as delivered,
      coalesce(e.bounced, 0) as bounced, coalesce(e.expired, 0) as expired
    from d left join r using (day) left join e using (day) order by d.day`;
}
