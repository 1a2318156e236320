// What the operator's queue view shows: recipients not yet final by state, and the
// outbox (messages waiting for their next attempt), with how many are due now.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";

export interface QueueSummary {
  waiting: { state: string; count: number }[];
  outbox: number;
  due: number;
  oldestDue: Date | null;
}

export async function queueSummary(db: Db): Promise<QueueSummary> {
  const at = now();
  const [waiting, [outbox]] = await Promise.all([
    db.sql<{ state: string; count: number }[]>`
      select state, count(*)::int as count from recipients
      where state in ('scheduled', 'queued', 'sending', 'deferred') group by state order by state`,
    db.sql<{ outbox: number; due: number; oldest_due: Date | null }[]>`
      select count(*)::int as outbox, count(*) filter (where run_at <= ${at})::int as due,
        min(run_at) filter (where run_at <= ${at}) as oldest_due
      from delivery_queue`,
  ]);
  return { waiting, outbox: outbox?.outbox ?? 0, due: outbox?.due ?? 0, oldestDue: outbox?.oldest_due ?? null };
}
