// The limit against guessing keys at the console's sign-in: failures per client IP, in
// the auth_failures table the SMTP AUTH limit uses, so every API process shares them.
import { nowMs } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { AUTH_FAILURE_WINDOW_MS } from "../smtp/auth-failures.ts";

/** Wrong keys from one IP within the window that lock that IP out of the sign-in. */
export const SIGN_IN_FAILURE_LIMIT = 10;

const keyFor = (ip: string) => `console:${ip}`;

export async function signInLocked(db: Db, ip: string): Promise<boolean> {
  const [row] = await db.sql<{ n: number }[]>`
    select count(*)::int as n from auth_failures where key = ${keyFor(ip)} and at > ${new Date(nowMs() - AUTH_FAILURE_WINDOW_MS)}`;
  return (row?.n ?? 0) >= SIGN_IN_FAILURE_LIMIT;
}

/** Counts one failure, and forgets this IP's failures older than the window. */
export async function recordSignInFailure(db: Db, ip: string): Promise<void> {
  const at = nowMs();
  await db.sql`
    with expired as (delete from auth_failures where key = ${keyFor(ip)} and at <= ${new Date(at - AUTH_FAILURE_WINDOW_MS)})
    insert into auth_failures (key, at) values (${keyFor(ip)}, ${new Date(at)})`;
}
