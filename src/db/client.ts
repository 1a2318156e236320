// One postgres.js pool per process, with drizzle on top of it. Hot paths use the
// tagged-template `sql` directly; simple reads and writes go through drizzle.
import { drizzle, type PostgresJsDatabase } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "./schema.ts";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;
export type Orm = PostgresJsDatabase<typeof schema>;

export interface Db {
  sql: Sql;
  orm: Orm;
  close(): Promise<void>;
  /**
   * Replaces both pools with new ones and ends the old: for when the driver has wedged a
   * connection (see driver-faults.ts). Callers read `db.sql` at each use, so they move over.
   */
  reset(): void;
}

// int8 columns (identity ids, counts) come back as numbers: they stay far below 2^53.
const int8 = { to: 20, from: [20], parse: (x: string) => Number(x), serialize: (x: unknown) => String(x) };

/**
 * Seconds a connection waits before it connects again after a failed attempt. The
 * driver's own backoff grows with every failure of any connection of the pool (3^n/100 s,
 * up to 20 s): a PostgreSQL restart of one second under traffic left the pool waiting
 * 7-20 s after the server was back, and each request with it. Here the wait grows to half
 * a second at most; a refused connection costs the server nothing.
 */
export function reconnectDelay(failures: number): number {
  return Math.min(0.05 * failures, 0.5);
}

/**
 * Seconds a connection may take to become ready. The driver's default is 30: a server
 * that accepted connections without answering them (PostgreSQL killed and restarting,
 * under a storm of relay sessions) left SMTP clients 30 s without a reply to their
 * message, and the intake behind that statement waiting with them. Ready takes
 * milliseconds on loopback and well under a second to a managed server over TLS.
 */
export const CONNECT_TIMEOUT_S = 5;

export function connect(url: string, opts: { max?: number } = {}): Db {
  const options = {
    onnotice: () => {},
    types: { int8 },
    transform: { undefined: null },
    connection: { application_name: "hikyaku" },
    backoff: reconnectDelay,
    connect_timeout: CONNECT_TIMEOUT_S,
  };
  const open = () => {
    const sql = postgres(url, { ...options, max: opts.max ?? 20 });
    // drizzle rewires its client's date parsers and serializers, so it gets a client of
    // its own and the tagged-template `sql` keeps returning Date objects.
    const ormClient = postgres(url, { ...options, max: 4 });
    return { sql, ormClient, orm: drizzle(ormClient, { schema }) };
  };
  let pools = open();
  const end = (p: typeof pools, timeout: number) => Promise.all([p.sql.end({ timeout }), p.ormClient.end({ timeout })]).then(() => {});
  return {
    get sql() {
      return pools.sql;
    },
    get orm() {
      return pools.orm;
    },
    close: () => end(pools, 5),
    reset() {
      const old = pools;
      pools = open();
      end(old, 0).catch(() => {});
    },
  };
}
