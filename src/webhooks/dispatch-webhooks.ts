// Turns due webhook outbox rows into graphile-worker jobs: one `webhooks` job per
// endpoint with due rows and no job yet. The job key makes it one job per endpoint at
// a time (so per-message order holds); the job drains what is due and ends.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { type PollLoop, startPollLoop } from "../util/poll-loop.ts";

const LOCK = 7_311_2027;
export const WEBHOOK_TASK = "webhooks";

export async function dispatchWebhooksOnce(db: Db): Promise<number> {
  return db.sql.begin(async (tx) => {
    const [lock] = await tx<{ ok: boolean }[]>`select pg_try_advisory_xact_lock(${LOCK}) as ok`;
    if (!lock?.ok) return 0;
    const due = await tx<{ id: string }[]>`
      select distinct o.endpoint_id as id from webhook_outbox o
      where o.run_at <= ${now()}
        and not exists (select 1 from graphile_worker._private_jobs j where j.key = 'webhooks:' || o.endpoint_id::text)`;
    if (due.length === 0) return 0;
    // unsafe_dedupe: a job that is already running is not doubled; it drains what is due.
    await tx`
      select count(graphile_worker.add_job(${WEBHOOK_TASK}, json_build_object('e', e), job_key => 'webhooks:' || e::text,
        job_key_mode => 'unsafe_dedupe', max_attempts => 25))
      from unnest(${due.map((d) => d.id)}::uuid[]) as e`;
    return due.length;
  });
}

/** Polls for due webhooks until stopped. */
export function startWebhookDispatcher(db: Db, pollMs = 100): PollLoop {
  // Each pass starts every endpoint's job; the jobs drain it, so the loop always sleeps.
  return startPollLoop(
    "webhook dispatcher",
    async () => {
      await dispatchWebhooksOnce(db);
      return false;
    },
    pollMs,
  );
}
