// graphile-worker 0.17 keeps a killed process's jobs locked for four hours. Each worker
// pool therefore beats here, and any live process unlocks the jobs of pools that went
// silent (or never beat), so their messages are retried within a couple of minutes.
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";
import { STOP_WAIT_MS } from "../util/poll-loop.ts";
import { within } from "../util/within.ts";

export function startHeartbeat(db: Db, poolIds: Set<string>, intervalSec: number): { stop(): Promise<void> } {
  const deadAfter = intervalSec * 6;
  let timer: NodeJS.Timeout | undefined;
  let busy: Promise<void> = Promise.resolve();
  const beat = async () => {
    const ids = [...poolIds];
    if (ids.length > 0) {
      await db.sql`
        insert into worker_heartbeats (pool_id, last_seen) select unnest(${ids}::text[]), now()
        on conflict (pool_id) do update set last_seen = now()`;
    }
    // Silent: a pool whose last beat is older than six intervals, or one that holds jobs
    // (or queues) locked that long and never beat at all. That one started and died
    // between two beats: a runner started again after a PostgreSQL restart and stopped
    // by the next one within seconds, or a process killed right after it started. Its
    // jobs would otherwise stay locked for graphile-worker's four hours, past the
    // messages' lifetime.
    const dead = await db.sql<{ poolId: string }[]>`
      with cutoff as (select now() - make_interval(secs => ${deadAfter}) as at),
      gone as (
        delete from worker_heartbeats using cutoff where last_seen < cutoff.at returning pool_id
      ),
      locked as (
        select locked_by from graphile_worker._private_jobs, cutoff where locked_by is not null and locked_at < cutoff.at
        union
        select locked_by from graphile_worker._private_job_queues, cutoff where locked_by is not null and locked_at < cutoff.at
      )
      select pool_id as "poolId" from gone
      union
      select l.locked_by from locked l, cutoff
      where not exists (select 1 from worker_heartbeats h where h.pool_id = l.locked_by and h.last_seen >= cutoff.at)`;
    if (dead.length > 0) {
      await db.sql`select graphile_worker.force_unlock_workers(${dead.map((d) => d.poolId)}::text[])`;
      log.warn("unlocked the jobs of silent workers", { pools: dead.map((d) => d.poolId) });
    }
  };
  const tick = () => {
    busy = beat()
      .catch((err) => log.error("heartbeat failed", { err: err as Error }))
      .finally(() => {
        timer = setTimeout(tick, intervalSec * 1000);
      });
  };
  tick();
  return {
    async stop() {
      clearTimeout(timer);
      // Bounded, as for the poll loops (STOP_WAIT_MS): rows left behind lapse after six beats.
      await within(busy, STOP_WAIT_MS);
      clearTimeout(timer);
      const ids = [...poolIds];
      if (ids.length > 0) await within(db.sql`delete from worker_heartbeats where pool_id = any(${ids}::text[])`, STOP_WAIT_MS);
    },
  };
}
