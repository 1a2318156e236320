// Turns due webhook outbox rows into graphile-worker jobs: one `webhooks` job per
// endpoint with due rows and no job yet. The job key makes it one job per endpoint at
// a time (so per-message order holds); the job drains what is due and ends.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";

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
export function startWebhookDispatcher(db: Db, pollMs = 100): { stop(): Promise<void> } {
  let running = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      let pause = pollMs;
      try {
        await dispatchWebhooksOnce(db);
      } catch (err) {
        log.error("webhook dispatcher failed; retrying in a second", { err: err as Error });
        pause = 1000;
      }
      if (running) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, pause);
        });
      }
    }
  })();
  return {
    async stop() {
      running = false;
      wake?.();
      await loop;
    },
  };
}
