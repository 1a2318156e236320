// The limit against password guessing, kept in Postgres so every SMTP process shares
// it: an IP address or a username with too many failed logins in the window is locked
// out until the window has passed.
import { nowMs } from "../clock.ts";
import type { Db } from "../db/client.ts";

export const AUTH_FAILURE_LIMIT = 10;
export const AUTH_FAILURE_WINDOW_MS = 10 * 60 * 1000;

const keysFor = (ip: string, username: string) => [`ip:${ip}`, `user:${username.toLowerCase().slice(0, 256)}`];

/** True when the IP or the username has reached the limit within the window. */
export async function authLocked(db: Db, ip: string, username: string): Promise<boolean> {
  const since = new Date(nowMs() - AUTH_FAILURE_WINDOW_MS);
  const [row] = await db.sql<{ locked: boolean }[]>`
    select exists (
      select 1 from auth_failures where key = any(${keysFor(ip, username)}::text[]) and at > ${since}
      group by key having count(*) >= ${AUTH_FAILURE_LIMIT}
    ) as locked`;
  return row?.locked ?? false;
}

/** Counts one failure against both the IP and the username, and forgets failures older than the window. */
export async function recordAuthFailure(db: Db, ip: string, username: string): Promise<void> {
  const at = new Date(nowMs());
  const since = new Date(at.getTime() - AUTH_FAILURE_WINDOW_MS);
  await db.sql`
    with expired as (delete from auth_failures where at <= ${since})
    insert into auth_failures (key, at) select unnest(${keysFor(ip, username)}::text[]), ${at}`;
}
