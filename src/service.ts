// Starts the service: the database (embedded unless DATABASE_URL is set), migrations,
// then whichever roles this process runs (api, smtp, worker). stop() shuts them down in
// the reverse order, letting in-flight work finish or return to the queue.
import type { AddressInfo } from "node:net";
import { createAccount, listAccounts } from "./accounts/accounts.ts";
import { createApp } from "./api/app.ts";
import { serveApi } from "./api/serve-api.ts";
import type { Config } from "./config.ts";
import { connect, type Db } from "./db/client.ts";
import { startEmbedded } from "./db/embedded.ts";
import { migrate } from "./db/migrate.ts";
import { log, setLogLevel } from "./logger.ts";
import { startSmtp } from "./smtp/server.ts";
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
  stop(): Promise<void>;
}

export async function openDatabase(config: Config): Promise<{ db: Db; url: string; stopEmbedded?: () => Promise<void> }> {
  if (config.DATABASE_URL) return { db: connect(config.DATABASE_URL), url: config.DATABASE_URL };
  const embedded = await startEmbedded(config.dataDir, config.HIKYAKU_EMBEDDED_PG_PORT);
  return { db: connect(embedded.url), url: embedded.url, stopEmbedded: embedded.stop };
}

export async function startService(config: Config): Promise<Service> {
  setLogLevel(config.HIKYAKU_LOG_LEVEL);
  const { db, url, stopEmbedded } = await openDatabase(config);
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
      const http = await listen(config, db);
      httpUrl = http.url;
      stops.push(http.close);
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
      async stop() {
        for (const stop of stops.reverse()) await stop().catch((err) => log.error("stop failed", { err }));
        await db.close();
        await stopEmbedded?.();
        log.info("hikyaku stopped");
      },
    };
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await db.close().catch(() => {});
    await stopEmbedded?.().catch(() => {});
    throw err;
  }
}

async function listen(config: Config, db: Db): Promise<{ url: string; close: () => Promise<void> }> {
  const app = createApp({ db, config });
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
