// The outbox dispatcher: turns due rows of delivery_queue into graphile-worker jobs, a
// batch at a time and in one transaction, so intake never pays for a job insert (each
// NOTIFY serialises commits) and no committed message can miss its job.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { PRIORITIES } from "../accept/policy.ts";
import { type PollLoop, startPollLoop } from "../util/poll-loop.ts";

const LOCK = 7_311_2026;

export interface DispatchOptions {
  /** Messages per graphile-worker job. */
  jobBatch: number;
  /** Messages moved per transaction. */
  limit?: number;
  /** Stop dispatching while this many deliver jobs wait unlocked in graphile-worker. */
  maxWaitingJobs?: number;
}

/** Moves due messages into jobs; returns how many. Only one dispatcher works at a time. */
export async function dispatchOnce(db: Db, opts: DispatchOptions): Promise<number> {
  const limit = opts.limit ?? 1000;
  return db.sql.begin(async (tx) => {
    const [lock] = await tx<{ ok: boolean }[]>`select pg_try_advisory_xact_lock(${LOCK}) as ok`;
    if (!lock?.ok) return 0;
    const at = now();
    const [waiting] = await tx<{ n: number }[]>`
      select count(*)::int as n from graphile_worker._private_jobs
      where locked_at is null and task_id = (select id from graphile_worker._private_tasks where identifier = 'deliver')`;
    const room = ((opts.maxWaitingJobs ?? 256) - (waiting?.n ?? 0)) * opts.jobBatch;
    if (room <= 0) return 0;
    const take = Math.min(limit, room);
    const due = await tx<{ messageId: string; priority: number }[]>`
      with due as (
        (select message_id from delivery_queue where priority = ${PRIORITIES.high} and run_at <= ${at} order by run_at limit ${take})
        union all
        (select message_id from delivery_queue where priority = ${PRIORITIES.normal} and run_at <= ${at} order by run_at limit ${take})
        union all
        (select message_id from delivery_queue where priority = ${PRIORITIES.bulk} and run_at <= ${at} order by run_at limit ${take})
        limit ${take}
      )
      delete from delivery_queue q using due where q.message_id = due.message_id
      returning q.message_id as "messageId", q.priority`;
    if (due.length === 0) return 0;
    const jobs: { payload: { m: string[] }; priority: number }[] = [];
    for (const p of [PRIORITIES.high, PRIORITIES.normal, PRIORITIES.bulk]) {
      const ids = due.filter((d) => d.priority === p).map((d) => d.messageId);
      for (let i = 0; i < ids.length; i += opts.jobBatch) jobs.push({ payload: { m: ids.slice(i, i + opts.jobBatch) }, priority: p });
    }
    await tx`
      select count(*) from graphile_worker.add_jobs(array(
        select row('deliver', j.payload, null, null, 25, null, j.priority, null)::graphile_worker.job_spec
        from jsonb_to_recordset(${tx.json(jobs)}) as j(payload json, priority int)))`;
    return due.length;
  });
}

/** Runs the dispatcher until stopped: straight on while there is work, polling when idle. */
export function startDispatcher(db: Db, opts: DispatchOptions & { idleMs?: number }): PollLoop {
  return startPollLoop("dispatcher", async () => (await dispatchOnce(db, opts)) > 0, opts.idleMs ?? 50);
}
