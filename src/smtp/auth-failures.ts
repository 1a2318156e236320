// The limit against password guessing, kept in Postgres so every SMTP process shares
// it. The guesser is locked out first: a username tried wrongly from one address stops
// there, while the customer's own servers elsewhere keep logging in. Higher limits per
// address (many usernames sprayed from one place) and per username (a guess spread over
// many addresses) catch what the first one misses.
import { nowMs } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { normaliseIp } from "./source-ips.ts";

export const AUTH_FAILURE_WINDOW_MS = 10 * 60 * 1000;

/** Failures within the window that lock each scope out. */
export const AUTH_FAILURE_LIMITS = {
  /** One username from one address: the guesser. */
  ipUser: 10,
  /** Any usernames from one address: a spray; above ipUser so one bad setting on a shared server spares its other logins. */
  ip: 30,
  /** One username from anywhere: the global guard, well above ipUser so a guesser cannot cheaply lock the customer out. */
  user: 100,
} as const;

export type LockScope = keyof typeof AUTH_FAILURE_LIMITS;

/** Usernames are case-insensitive, so are their counters. */
function keysFor(ip: string, username: string): Record<LockScope, string> {
  const addr = normaliseIp(ip) ?? ip;
  const user = username.toLowerCase().slice(0, 256);
  return { ipUser: `ipuser:${addr} ${user}`, ip: `ip:${addr}`, user: `user:${user}` };
}

/** The scope that has reached its limit within the window, or undefined when logins may be tried. */
export async function authLocked(db: Db, ip: string, username: string): Promise<LockScope | undefined> {
  const since = new Date(nowMs() - AUTH_FAILURE_WINDOW_MS);
  const keys = keysFor(ip, username);
  const rows = await db.sql<{ key: string; n: number }[]>`
    select key, count(*)::int as n from auth_failures where key = any(${Object.values(keys)}::text[]) and at > ${since} group by key`;
  const count = new Map(rows.map((r) => [r.key, r.n]));
  return (Object.keys(keys) as LockScope[]).find((scope) => (count.get(keys[scope]) ?? 0) >= AUTH_FAILURE_LIMITS[scope]);
}

/** Counts one failure in every scope, and forgets failures older than the window. */
export async function recordAuthFailure(db: Db, ip: string, username: string): Promise<void> {
  const at = new Date(nowMs());
  const since = new Date(at.getTime() - AUTH_FAILURE_WINDOW_MS);
  await db.sql`
    with expired as (delete from auth_failures where at <= ${since})
    insert into auth_failures (key, at) select unnest(${Object.values(keysFor(ip, username))}::text[]), ${at}`;
}
