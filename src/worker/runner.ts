// The worker role: graphile-worker running the delivery task, the outbox dispatcher,
// and the heartbeat that rescues the jobs of killed workers.
import { EventEmitter } from "node:events";
import { run, type Runner, type Task, type TaskList, type WorkerEvents } from "graphile-worker";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { jobsPool } from "../db/jobs-pool.ts";
import { workerLogger } from "../db/migrate.ts";
import { log } from "../logger.ts";
import { loadExtraCas, trustedCas } from "../net/outbound-trust.ts";
import { ConnectionPool } from "../delivery/connection-pool.ts";
import { ConnectionSlots } from "../delivery/connection-slots.ts";
import { PolicyStore } from "../delivery/policy-store.ts";
import { Shaper } from "../delivery/shaper.ts";
import { createResolver } from "../delivery/dns.ts";
import { type DeliveryContext, deliverMessages } from "../delivery/deliver.ts";
import { sendPendingDsns } from "../delivery/dsn-intent.ts";
import { MtaSts } from "../delivery/mta-sts.ts";
import { sweepExpired } from "../delivery/sweeper.ts";
import { LOG_COUNTS_CRONTAB, LOG_COUNTS_TASK, logCountsTask } from "../logs/daily-counts.ts";
import { RETENTION_CRONTAB, RETENTION_TASK, retentionTask } from "../logs/retention-task.ts";
import { deliverEndpoint } from "../webhooks/deliver-webhooks.ts";
import { pruneWebhookAttempts } from "../webhooks/prune-attempts.ts";
import { startWebhookDispatcher, WEBHOOK_TASK } from "../webhooks/dispatch-webhooks.ts";
import { startDispatcher } from "./dispatcher.ts";
import { startHeartbeat } from "./heartbeat.ts";

export interface WorkerHandle {
  stop(): Promise<void>;
}

export async function startWorker(config: Config, db: Db, url: string): Promise<WorkerHandle> {
  // A crashed process's connection slots come free when its jobs do: after six missed heartbeats.
  const slots = new ConnectionSlots(db, config.HIKYAKU_HEARTBEAT_SECONDS * 6 * 1000);
  const extraCa = loadExtraCas(config.HIKYAKU_OUTBOUND_CA_FILE);
  const pool = new ConnectionPool({ heloName: config.HIKYAKU_HOSTNAME, timeoutMs: config.HIKYAKU_SMTP_TIMEOUT * 1000, slots, extraCa });
  const resolver = createResolver(config.HIKYAKU_DNS_SERVERS);
  const allowPrivate = config.HIKYAKU_ALLOW_PRIVATE_DESTINATIONS;
  const policies = await PolicyStore.start(db);
  const shaper = await new Shaper(
    db,
    policies,
    {
      maxWaitMs: 1000,
      backoffSeconds: config.HIKYAKU_SHAPING_BACKOFF_SECONDS,
      recoverSeconds: config.HIKYAKU_SHAPING_RECOVER_SECONDS,
      suspendSeconds: config.HIKYAKU_SHAPING_SUSPEND_SECONDS,
      suspendMaxSeconds: config.HIKYAKU_SHAPING_SUSPEND_MAX_SECONDS,
      suspendAfter: 3,
    },
    pool,
    slots,
  ).start();
  const ctx: DeliveryContext = {
    db,
    config,
    pool,
    destination: { routes: config.HIKYAKU_ROUTES, resolver, allowPrivate, mxPort: config.HIKYAKU_MX_PORT },
    shaper,
    mtaSts: new MtaSts({
      db,
      resolver,
      allowPrivate,
      ca: trustedCas(extraCa),
      port: config.HIKYAKU_MTA_STS_PORT,
      timeoutMs: config.HIKYAKU_SMTP_TIMEOUT * 1000,
    }),
  };
  const deliver: Task = async (payload, helpers) => {
    const ids = (payload as { m?: unknown }).m;
    if (!Array.isArray(ids)) return;
    await deliverMessages(ctx, ids as string[], helpers.job.attempts > 1);
  };
  // Periodic jobs: graphile-worker's cron runs each once per period across all workers.
  const sweep: Task = async () => {
    await sweepExpired(ctx);
    await sendPendingDsns({ db, config });
    await pruneWebhookAttempts(db, config.HIKYAKU_LOG_RETENTION_DAYS);
  };
  // Webhooks never let graphile-worker's retry decide: a failure is logged, the rows stay
  // due in the outbox, and the dispatcher starts the endpoint's next job.
  const webhooks: Task = async (payload) => {
    const endpointId = (payload as { e?: unknown }).e;
    if (typeof endpointId !== "string") return;
    await deliverEndpoint({ db, config }, endpointId).catch((err) => log.error("webhook delivery failed", { endpoint_id: endpointId, err: err as Error }));
  };
  const taskList: TaskList = {
    deliver,
    sweep,
    [WEBHOOK_TASK]: webhooks,
    [RETENTION_TASK]: retentionTask(db, config),
    [LOG_COUNTS_TASK]: logCountsTask(db),
  };
  const crontab = ["* * * * * sweep ?max=1", RETENTION_CRONTAB, LOG_COUNTS_CRONTAB];
  const poolIds = new Set<string>();
  const concurrency = config.HIKYAKU_WORKER_CONCURRENCY;
  const startRunner = async (): Promise<Runner> => {
    const events: WorkerEvents = new EventEmitter();
    events.on("pool:create", ({ workerPool }) => poolIds.add(workerPool.id));
    const pgPool = jobsPool(url, Math.min(concurrency + 4, 40));
    const ended = () => void pgPool.end().catch(() => {});
    const runner = await run({
      pgPool,
      taskList,
      crontab: crontab.join("\n"),
      events,
      noHandleSignals: true,
      logger: workerLogger,
      preset: {
        worker: {
          concurrentJobs: concurrency,
          pollInterval: 1000,
          // Batch job fetches, except for a tiny worker where strict priority matters more.
          ...(concurrency >= 4 ? { localQueue: { size: concurrency, ttl: 30_000 } } : {}),
          completeJobBatchDelay: 5,
          failJobBatchDelay: 5,
        },
      },
    }).catch((err: unknown) => {
      ended();
      throw err;
    });
    // The pool is ours to end: once this runner has stopped, for good or to be replaced.
    runner.promise.then(ended, ended);
    return runner;
  };
  const runner = await keepRunning(startRunner, poolIds);
  const heartbeat = startHeartbeat(db, poolIds, config.HIKYAKU_HEARTBEAT_SECONDS);
  const dispatcher = startDispatcher(db, { jobBatch: config.HIKYAKU_JOB_BATCH, maxWaitingJobs: config.HIKYAKU_DISPATCH_AHEAD });
  const webhookDispatcher = startWebhookDispatcher(db);
  // DSNs whose sending a crash interrupted, at once rather than at the next sweep.
  void sendPendingDsns({ db, config }, 0).catch((err) => log.error("could not send pending DSNs", { err: err as Error }));
  return {
    async stop() {
      // The dispatchers stop beside the runner (it waits for its running jobs), and the
      // heartbeat only after it, so no other worker unlocks a job still being finished.
      await Promise.all([dispatcher.stop(), webhookDispatcher.stop(), runner.stop()]);
      await heartbeat.stop();
      pool.close();
      await policies.stop();
      await shaper.stop();
      await slots.releaseAll().catch((err) => log.warn("could not free this process's connection slots; they lapse on their own", { err: err as Error }));
    },
  };
}

/**
 * graphile-worker 0.17's local queue, when its runner has stopped (the database went away)
 * and the jobs it had fetched cannot be handed back, throws from a background promise out
 * of anyone's reach: an unhandled rejection that would stop the whole process, intake
 * included, at a PostgreSQL restart. Those jobs stay locked under the stopped pool, whose
 * heartbeat has ended; the heartbeat of the next runner unlocks them (keepRunning).
 */
export function isUnreturnedLocalJobs(err: unknown): boolean {
  return (
    err instanceof Error &&
    err.message.startsWith("Error occurred whilst returning jobs from local queue to database queue") &&
    /[\\/]graphile-worker[\\/]/.test(err.stack ?? "")
  );
}

/**
 * graphile-worker's Runner stops for good when its pool loses the database (a PostgreSQL
 * restart, say), and the process would go on without a worker. A runner that stops
 * without being asked to is started again, with new pool ids: the old ones stop beating,
 * so the heartbeat unlocks whatever they held, as for a killed process.
 */
async function keepRunning(start: () => Promise<Runner>, poolIds: Set<string>): Promise<{ stop(): Promise<void> }> {
  let stopping = false;
  let current = await start();
  let retry: NodeJS.Timeout | undefined;
  const watch = (runner: Runner) => {
    runner.promise.then(
      () => restart(runner, undefined),
      (err: unknown) => restart(runner, err),
    );
  };
  const restart = (runner: Runner, err: unknown) => {
    if (stopping || runner !== current) return;
    log.error("the job runner stopped; starting a new one", { err: err instanceof Error ? err : undefined });
    poolIds.clear();
    const again = () => {
      retry = undefined;
      if (stopping) return;
      start().then(
        (next) => {
          // Asked to stop while it was starting: stop it too (stop() had only the old one).
          if (stopping) return void next.stop().catch(() => {});
          current = next;
          watch(next);
        },
        (e: unknown) => {
          log.warn("could not start the job runner yet; retrying in 2 s", { err: e as Error });
          retry = setTimeout(again, 2000);
        },
      );
    };
    retry = setTimeout(again, 1000);
  };
  watch(current);
  return {
    async stop() {
      stopping = true;
      clearTimeout(retry);
      await current.stop().catch(() => {});
    },
  };
}
