// SMTP AUTH credentials for the submission ports: the password is generated, shown
// once at creation and stored only as a slow hash.
import { randomBytes } from "node:crypto";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { uuidv7 } from "../util/ids.ts";
import { DUMMY_HASH, hashPassword, verifyPassword } from "./password-hash.ts";

export interface SmtpCredential {
  id: string;
  username: string;
  created_at: string;
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}$/;

export async function createSmtpCredential(db: Db, accountId: string, username?: string): Promise<SmtpCredential & { password: string }> {
  if (username !== undefined && !USERNAME.test(username)) {
    throw new AppError("validation_error", "username must be 3-64 characters: letters, digits and . _ @ + -, starting with a letter or digit.", {
      field: "username",
    });
  }
  const name = username ?? `hk-${randomBytes(6).toString("hex")}`;
  const password = randomBytes(24).toString("base64url");
  const id = uuidv7();
  const rows = await db.sql<{ createdAt: Date }[]>`
    insert into smtp_credentials (id, account_id, username, password_hash)
    values (${id}, ${accountId}, ${name}, ${await hashPassword(password)})
    on conflict do nothing
    returning created_at as "createdAt"`;
  const row = rows[0];
  if (!row) {
    const why = `The username "${name}" is taken (usernames are case-insensitive); choose another, or leave it out to get a generated one.`;
    throw new AppError("conflict", why, { field: "username" });
  }
  return { id, username: name, password, created_at: row.createdAt.toISOString() };
}

export async function listSmtpCredentials(db: Db, accountId: string): Promise<SmtpCredential[]> {
  const rows = await db.sql<{ id: string; username: string; createdAt: Date }[]>`
    select id, username, created_at as "createdAt" from smtp_credentials
    where account_id = ${accountId} and revoked_at is null order by created_at, id`;
  return rows.map((r) => ({ id: r.id, username: r.username, created_at: r.createdAt.toISOString() }));
}

export async function revokeSmtpCredential(db: Db, accountId: string, id: string): Promise<boolean> {
  const rows = await db.sql`
    update smtp_credentials set revoked_at = now()
    where id = ${id} and account_id = ${accountId} and revoked_at is null returning id`;
  return rows.length > 0;
}

export interface LoginCheck {
  /** Set only when the password matched an active credential. */
  login?: { accountId: string; credentialId: string; username: string };
  /** The account the username belongs to, matched or not: it sees its failed logins in its reception log. */
  accountId: string | null;
}

/**
 * Usernames are case-insensitive (CITY-alerts logs in as city-alerts). Unknown, revoked
 * and wrong are told apart only here: the client hears the same words for all three.
 */
export async function checkSmtpLogin(db: Db, username: string, password: string): Promise<LoginCheck> {
  const [row] = await db.sql<{ id: string; accountId: string; username: string; passwordHash: string; revoked: boolean }[]>`
    select id, account_id as "accountId", username, password_hash as "passwordHash", revoked_at is not null as revoked
    from smtp_credentials where lower(username) = lower(${username.slice(0, 256)})`;
  const ok = await verifyPassword(password, row?.passwordHash ?? DUMMY_HASH);
  if (!row) return { accountId: null };
  if (!ok || row.revoked) return { accountId: row.accountId };
  return { login: { accountId: row.accountId, credentialId: row.id, username: row.username }, accountId: row.accountId };
}
