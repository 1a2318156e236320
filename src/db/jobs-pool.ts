// The pg pool graphile-worker runs on. graphile-worker makes its own from a connection
// string, with pg's default of no connect timeout: a PostgreSQL killed and restarting
// that accepted a connection without answering left the job runner waiting on it for
// good, and delivery did not resume after the server was back. This one gives up after
// CONNECT_TIMEOUT_S like the service's own pool, so the runner fails and is started again.
import pg from "pg";
import { log } from "../logger.ts";
import { CONNECT_TIMEOUT_S } from "./client.ts";

export function jobsPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: CONNECT_TIMEOUT_S * 1000 });
  // An idle or checked-out client that loses its server raises its error on the pool or
  // the client; unheard, it would stop the process. Its next query fails and says so.
  pool.on("error", (err) => log.warn("a job database connection failed", { err }));
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}
