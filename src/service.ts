// Starts the service: the database (embedded unless DATABASE_URL is set), migrations,
// then whichever roles this process runs (api, smtp, worker). stop() shuts them down in
// the reverse order, letting in-flight work finish or return to the queue.
import type { AddressInfo } from "node:net";
import { createAccount, listAccounts } from "./accounts/accounts.ts";
import { createApp } from "./api/app.ts";
import { listenForMetrics } from "./api/metrics-listener.ts";
import { serveApi } from "./api/serve-api.ts";
import type { Config } from "./config.ts";
import { connect, type Db } from "./db/client.ts";
import { type EmbeddedDb, startEmbedded } from "./db/embedded.ts";
import { migrate } from "./db/migrate.ts";
import { log, setLogLevel } from "./logger.ts";
import { startSmtp } from "./smtp/server.ts";
import { within } from "./util/within.ts";
import { startWorker, type WorkerHandle } from "./worker/runner.ts";

export interface Service {
  db: Db;
  databaseUrl: string;
  /** Base URL of the HTTP API, when this process runs it. */
  httpUrl?: string;
  /** Bound SMTP intake ports, when this process runs the smtp role (port 0 in config = ephemeral). */
  smtp?: { relayPort: number; submissionPort: number; smtpsPort: number };
  /** The first account's key, when this start created it. */
  firstKey?: string;
  /** The embedded PostgreSQL, when DATABASE_URL is unset (its cluster folder, and whether it died for good). */
  embedded?: EmbeddedDb;
  /**
   * Stops within HIKYAKU_SHUTDOWN_SECONDS, whatever hangs. False when it was not clean: a
   * step failed or the time ran out. Jobs it could not hand back stay locked under this
   * worker's last heartbeat, and are unlocked by the next worker to look.
   */
  stop(): Promise<boolean>;
  /** Adds a part that stop() stops first, within the same time limit (the worker children of `hikyaku start`). */
  alsoStop(stop: () => Promise<void>): void;
}

export async function openDatabase(config: Config): Promise<{ db: Db; url: string; embedded?: EmbeddedDb; stopEmbedded?: () => Promise<void> }> {
  if (config.DATABASE_URL) return { db: connect(config.DATABASE_URL), url: config.DATABASE_URL };
  const embedded = await startEmbedded(config.dataDir, config.HIKYAKU_EMBEDDED_PG_PORT, "hikyaku", { systemDir: config.HIKYAKU_EMBEDDED_PG_SYSTEM_DIR });
  return { db: connect(embedded.url), url: embedded.url, embedded, stopEmbedded: embedded.stop };
}

export async function startService(config: Config): Promise<Service> {
  setLogLevel(config.HIKYAKU_LOG_LEVEL);
  const { db, url, embedded, stopEmbedded } = await openDatabase(config);
  const stops: (() => Promise<void>)[] = [];
  try {
    await migrate(db, url);
    const firstKey = stopEmbedded ? await ensureFirstAccount(db) : undefined;
    let httpUrl: string | undefined;
    if (config.HIKYAKU_ROLES.has("worker")) {
      const worker: WorkerHandle = await startWorker(config, db, url);
      stops.push(() => worker.stop());
    }
    if (config.HIKYAKU_ROLES.has("api")) {
      const http = await listen(config, db, embedded);
      httpUrl = http.url;
      stops.push(http.close);
    } else if (config.HIKYAKU_METRICS_PORT !== undefined && config.HIKYAKU_METRICS_TOKEN) {
      const metrics = await listenForMetrics(config, db, config.HIKYAKU_METRICS_PORT);
      log.info("metrics listening", { url: metrics.url });
      stops.push(metrics.close);
    }
    let smtp: Service["smtp"];
    if (config.HIKYAKU_ROLES.has("smtp")) {
      const handle = await startSmtp(config, db);
      smtp = { relayPort: handle.relayPort, submissionPort: handle.submissionPort, smtpsPort: handle.smtpsPort };
      stops.push(handle.stop);
    }
    log.info("hikyaku started", { roles: [...config.HIKYAKU_ROLES], http: httpUrl, smtp, embedded_db: Boolean(stopEmbedded) });
    return {
      db,
      databaseUrl: url,
      httpUrl,
      smtp,
      firstKey,
      embedded,
      stop: () => stopWithin(config.HIKYAKU_SHUTDOWN_SECONDS * 1000, stops.reverse(), db, stopEmbedded),
      alsoStop: (stop) => void stops.push(stop),
    };
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await db.close().catch(() => {});
    await stopEmbedded?.().catch(() => {});
    throw err;
  }
}

/** Each part in turn (in-flight work finishes or returns to the queue), then the database; bounded in time. */
async function stopWithin(ms: number, stops: (() => Promise<void>)[], db: Db, stopEmbedded?: () => Promise<void>): Promise<boolean> {
  let clean = true;
  const failed = (what: string) => (err: unknown) => {
    clean = false;
    log.error(`${what} did not stop cleanly`, { err: err as Error });
  };
  const steps = async () => {
    for (const stop of stops) await stop().catch(failed("a service part"));
    await db.close().catch(failed("the database pool"));
    await stopEmbedded?.().catch(failed("the embedded postgres"));
  };
  if (!(await within(steps(), ms))) {
    log.error("shutdown did not finish in time; unfinished jobs stay locked until a worker unlocks them after missed heartbeats", { seconds: ms / 1000 });
    return false;
  }
  log.info(clean ? "hikyaku stopped" : "hikyaku stopped, not cleanly");
  return clean;
}

async function listen(config: Config, db: Db, embedded?: EmbeddedDb): Promise<{ url: string; close: () => Promise<void> }> {
  const app = createApp({ db, config, databaseProblem: embedded?.problem });
  return new Promise((resolve, reject) => {
    const server = serveApi({ fetch: app.fetch, port: config.HIKYAKU_HTTP_PORT, hostname: config.HIKYAKU_HOST }, (info: AddressInfo) => {
      const host = info.address.includes(":") ? `[${info.address}]` : info.address;
      resolve({
        url: `http://${host}:${info.port}`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
    server.once("error", (err) =>
      reject(new Error(`Could not listen for HTTP on ${config.HIKYAKU_HOST}:${config.HIKYAKU_HTTP_PORT}; set HIKYAKU_HTTP_PORT.`, { cause: err })),
    );
  });
}

/** On a fresh embedded database, make the first account so a newcomer can send at once. */
async function ensureFirstAccount(db: Db): Promise<string | undefined> {
  if ((await listAccounts(db)).length > 0) return undefined;
  const { key } = await createAccount(db, "default");
  return key.key;
}
