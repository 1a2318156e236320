// graphile-worker 0.17 keeps a killed process's jobs locked for four hours. Each worker
// pool therefore beats here, and any live process unlocks the jobs of pools that went
// silent, so their messages are retried within a couple of minutes.
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
    const dead = await db.sql<{ poolId: string }[]>`
      delete from worker_heartbeats where last_seen < now() - make_interval(secs => ${deadAfter})
      returning pool_id as "poolId"`;
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
