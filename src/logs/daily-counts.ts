// Per-day counts of one account's month, in its time zone, for the usage chart: messages
// accepted (reception log) and final results (delivery log); the month's totals come
// from the durable usage counters (usage.ts).
//
// Counting a month of raw events on every view took seconds at a million events a month,
// so the log is rolled up into quarter-hour counts (log_counts, in UTC: any zone's day is
// a sum of them) up to a watermark an hour behind now, and only the events after the
// watermark are counted from the log. The roll-up runs on every view and from the
// worker's cron (LOG_COUNTS_CRONTAB), so a view rolls up little or nothing.
import type { Task } from "graphile-worker";
import { nowMs } from "../clock.ts";
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

const QUARTER_MS = 15 * 60_000;
/**
 * Events this recent may still be written with an earlier time (an attempt's time is
 * taken when it starts, its outcome stored when it ends), so they are never rolled up,
 * only counted live.
 */
const SETTLE_MS = 3600_000;

export const LOG_COUNTS_TASK = "log_counts";
/** Every quarter hour, behind any waiting delivery job, never two at once. */
export const LOG_COUNTS_CRONTAB = `*/15 * * * * ${LOG_COUNTS_TASK} ?max=1&priority=100&jobKey=${LOG_COUNTS_TASK}`;

/** The cron job: rolls up every account's settled events. */
export function logCountsTask(db: Db): Task {
  return async () => {
    const accounts = await db.sql<{ id: string }[]>`select id from accounts order by id`;
    for (const a of accounts) await rollUpCounts(db, a.id);
  };
}

/**
 * Adds the account's events from its watermark to the last settled quarter hour into
 * log_counts and moves the watermark there, in one transaction under a per-account lock
 * (so a page view and the cron never count the same events twice). Returns the watermark.
 */
export async function rollUpCounts(db: Db, accountId: string): Promise<Date> {
  const until = new Date(Math.floor((nowMs() - SETTLE_MS) / QUARTER_MS) * QUARTER_MS);
  return db.sql.begin(async (sql) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`log_counts:${accountId}`}, 0))`;
    const [mark] = await sql<{ until: Date }[]>`select until from log_counts_until where account_id = ${accountId}`;
    const from = mark?.until;
    if (from && from >= until) return from;
    const day = (t: Date) => Math.floor(t.getTime() / 86_400_000);
    const logDay = dayExpr(sql as unknown as Db["sql"]);
    // The (account_id, day, ...) indexes find the range; created_at then cuts it exactly.
    const range = from
      ? sql`${logDay} between ${day(from)} and ${day(until)} and created_at >= ${from} and created_at < ${until}`
      : sql`${logDay} <= ${day(until)} and created_at < ${until}`;
    const bucket = sql`date_bin('15 minutes', created_at, timestamptz '1970-01-01 00:00:00+00')`;
    await sql`
      with e as (
        select ${bucket} as bucket,
          count(*) filter (where event = 'delivered')::int as delivered,
          count(*) filter (where event = 'bounced')::int as bounced,
          count(*) filter (where event = 'expired')::int as expired
        from delivery_events
        where account_id = ${accountId} and event in ('delivered', 'bounced', 'expired') and ${range}
        group by 1
      ),
      r as (
        select ${bucket} as bucket, count(*)::int as accepted from reception_events
        where account_id = ${accountId} and accepted and ${range}
        group by 1
      )
      insert into log_counts (account_id, bucket, accepted, delivered, bounced, expired)
      select ${accountId}, bucket, coalesce(r.accepted, 0), coalesce(e.delivered, 0), coalesce(e.bounced, 0), coalesce(e.expired, 0)
      from e full join r using (bucket)
      on conflict (account_id, bucket) do update set
        accepted = log_counts.accepted + excluded.accepted,
        delivered = log_counts.delivered + excluded.delivered,
        bounced = log_counts.bounced + excluded.bounced,
        expired = log_counts.expired + excluded.expired`;
    await sql`
      insert into log_counts_until (account_id, until) values (${accountId}, ${until})
      on conflict (account_id) do update set until = excluded.until`;
    return until;
  });
}

/** Every day of `month` (YYYY-MM), zeros included: the rolled-up quarter hours plus the log after the watermark. */
export async function dailyCounts(db: Db, accountId: string, month: string, timeZone: string): Promise<DayCounts[]> {
  const until = await rollUpCounts(db, accountId);
  const sql = db.sql;
  const start = sql`(${`${month}-01`}::date::timestamp at time zone ${timeZone})`;
  const end = sql`((${`${month}-01`}::date + interval '1 month')::timestamp at time zone ${timeZone})`;
  const liveFrom = sql`greatest(${start}, ${until}::timestamptz)`;
  const live = sql`${dayExpr(sql)} between floor(extract(epoch from ${liveFrom}) / 86400)::int and floor(extract(epoch from ${end}) / 86400)::int
    and created_at >= ${liveFrom} and created_at < ${end}`;
  const localDay = (column: string) => sql`to_char(${sql(column)} at time zone ${timeZone}, 'YYYY-MM-DD')`;
  return sql<DayCounts[]>`
    with d as (
      select to_char(g, 'YYYY-MM-DD') as day
      from generate_series(${`${month}-01`}::date, (${`${month}-01`}::date + interval '1 month' - interval '1 day'), interval '1 day') g
    ),
    c as (
      select ${localDay("bucket")} as day, sum(accepted)::int as accepted, sum(delivered)::int as delivered,
        sum(bounced)::int as bounced, sum(expired)::int as expired
      from log_counts
      where account_id = ${accountId} and bucket >= ${start} and bucket < ${end} and bucket < ${until}
      group by 1
    ),
    r as (
      select ${localDay("created_at")} as day, count(*)::int as accepted from reception_events
      where account_id = ${accountId} and accepted and ${live}
      group by 1
    ),
    e as (
      select ${localDay("created_at")} as day,
        count(*) filter (where event = 'delivered')::int as delivered,
        count(*) filter (where event = 'bounced')::int as bounced,
        count(*) filter (where event = 'expired')::int as expired
      from delivery_events
      where account_id = ${accountId} and event in ('delivered', 'bounced', 'expired') and ${live}
      group by 1
    )
    select d.day,
      coalesce(c.accepted, 0) + coalesce(r.accepted, 0) as accepted,
      coalesce(c.delivered, 0) + coalesce(e.delivered, 0) as delivered,
      coalesce(c.bounced, 0) + coalesce(e.bounced, 0) as bounced,
      coalesce(c.expired, 0) + coalesce(e.expired, 0) as expired
    from d left join c using (day) left join r using (day) left join e using (day) order by d.day`;
}
