// postgres.js 3.4.9 misbehaves when the server goes away in the middle of a transaction
// (porsager/postgres#1208, #1223): the ROLLBACK it sends itself lands on a closed socket
// and throws from a timer, out of reach of any caller, leaving that connection unable
// ever to connect again; or a connection's end escapes as an unhandled rejection after
// its query already failed. The process recognises both and carries on.

/** The TypeError thrown from the driver's write timer onto a closed socket: the pool must be replaced. */
export function isStrandedWrite(err: unknown): boolean {
  return err instanceof TypeError && /reading 'write'/.test(err.message) && /[\\/]postgres[\\/]src[\\/]connection\.js/.test(err.stack ?? "");
}

/**
 * The database is unreachable or restarting (connection refused, lost or broken; admin or
 * crash shutdown; starting up; too many clients): a 503, not a 500.
 */
export function isDatabaseDown(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? "";
  return [
    "ECONNREFUSED",
    "ECONNRESET",
    // A write onto a socket the server had just closed (seen when PostgreSQL was killed
    // as a request's statement went out), and a connection that never got an answer.
    "EPIPE",
    "ETIMEDOUT",
    "CONNECTION_CLOSED",
    "CONNECTION_ENDED",
    "CONNECTION_DESTROYED",
    "CONNECT_TIMEOUT",
    "57P01",
    "57P02",
    "57P03",
    "08000",
    "08003",
    "08006",
    "08001",
    "53300",
  ].includes(code);
}
