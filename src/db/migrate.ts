// Brings a database up to date: our drizzle migrations, then graphile-worker's own.
// Many processes may start at once, so an advisory lock makes them take turns.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { migrate as drizzleMigrate } from "drizzle-orm/postgres-js/migrator";
import { Logger, runMigrations } from "graphile-worker";
import { log } from "../logger.ts";
import type { Db } from "./client.ts";
import { jobsPool } from "./jobs-pool.ts";

const migrationsFolder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../drizzle");
const LOCK = 7_311_2025;

export async function migrate(db: Db, url: string): Promise<void> {
  const conn = await db.sql.reserve();
  try {
    await conn`select pg_advisory_lock(${LOCK})`;
    await drizzleMigrate(db.orm, { migrationsFolder });
    const pgPool = jobsPool(url, 1);
    try {
      await runMigrations({ pgPool, logger: silentLogger });
    } finally {
      await pgPool.end().catch(() => {});
    }
  } finally {
    await conn`select pg_advisory_unlock(${LOCK})`.catch(() => {});
    conn.release();
  }
}

export const silentLogger = new Logger(() => () => {});

/** graphile-worker's own messages, as our JSON log lines (warnings and errors only). */
export const workerLogger = new Logger((scope) => (level, message, meta) => {
  // Only the sentence: graphile-worker's meta can hold whole pg clients (with their keys).
  void meta;
  if (level === "error") log.error(`graphile-worker: ${message.split("\n")[0]}`, { scope: scope.label });
  else if (level === "warning") log.warn(`graphile-worker: ${message}`, { scope: scope.label });
});
