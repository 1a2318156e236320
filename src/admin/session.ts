// Console sessions: a random token in an HttpOnly, SameSite=Strict cookie, its SHA-256 in
// console_sessions with the form token that every POST must carry (CSRF). Ending the
// API key it was opened with ends the session too.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { hashKey } from "../accounts/accounts.ts";
import { nowMs } from "../clock.ts";
import type { Db } from "../db/client.ts";

export const SESSION_COOKIE = "hk_session";
export const SESSION_SECONDS = 8 * 3600;

export interface Session {
  /** null: the operator. */
  accountId: string | null;
  accountName: string | null;
  apiKeyId: string | null;
  timeZone: string;
  csrf: string;
  expiresAt: Date;
}

const digest = (token: string) => createHash("sha256").update(token).digest("hex");
export const newToken = () => randomBytes(32).toString("base64url");

/** Opens a session for the account whose active API key this is; undefined for any other key. */
export async function openAccountSession(db: Db, apiKey: string): Promise<string | undefined> {
  const token = newToken();
  const rows = await db.sql`
    with expired as (delete from console_sessions where expires_at <= ${new Date(nowMs())})
    insert into console_sessions (id, account_id, api_key_id, csrf, expires_at)
    select ${digest(token)}, k.account_id, k.id, ${newToken()}, ${expiry()}
    from api_keys k where k.hash = ${hashKey(apiKey)} and k.revoked_at is null
    returning id`;
  return rows.length > 0 ? token : undefined;
}

/** Opens an operator session; the caller has checked the operator token. */
export async function openOperatorSession(db: Db): Promise<string> {
  const token = newToken();
  await db.sql`
    with expired as (delete from console_sessions where expires_at <= ${new Date(nowMs())})
    insert into console_sessions (id, csrf, expires_at) values (${digest(token)}, ${newToken()}, ${expiry()})`;
  return token;
}

/** The live session a cookie names: not expired, and (for an account) its key not revoked. */
export async function findSession(db: Db, token: string | undefined): Promise<Session | undefined> {
  if (!token || token.length > 100) return undefined;
  const [row] = await db.sql<Session[]>`
    select s.account_id as "accountId", a.name as "accountName", s.api_key_id as "apiKeyId",
      coalesce(a.time_zone, 'UTC') as "timeZone", s.csrf, s.expires_at as "expiresAt"
    from console_sessions s
    left join accounts a on a.id = s.account_id
    left join api_keys k on k.id = s.api_key_id
    where s.id = ${digest(token)} and s.expires_at > ${new Date(nowMs())}
      and (s.account_id is null or (a.id is not null and k.revoked_at is null))`;
  return row;
}

/** Ends the session (expired ones are forgotten at each sign-in). */
export async function endSession(db: Db, token: string | undefined): Promise<void> {
  await db.sql`delete from console_sessions where id = ${digest(token ?? "")}`;
}

export function sameToken(given: unknown, expected: string | undefined): boolean {
  if (typeof given !== "string" || !expected) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const expiry = () => new Date(nowMs() + SESSION_SECONDS * 1000);
