// Accounts and their API keys. A key is shown once at creation and stored as a SHA-256
// hash; it is 192 random bits, so a slow hash would add latency and no safety.
import { createHash, randomBytes } from "node:crypto";
import { and, eq, isNull } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { accounts, apiKeys } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { isUuid, uuidv7 } from "../util/ids.ts";

export interface CreatedKey {
  id: string;
  key: string;
  prefix: string;
}

export interface Account {
  id: string;
  name: string;
  bouncesEnabled: boolean;
  monthlyQuota: number | null;
  /** API requests per rate-limit window; null: HIKYAKU_API_RATE_LIMIT. */
  apiRateLimit?: number | null;
  createdAt: Date;
}

export const hashKey = (key: string) => createHash("sha256").update(key).digest("hex");

export async function createAccount(db: Db, name: string): Promise<{ account: Account; key: CreatedKey }> {
  return db.orm.transaction(async (tx) => {
    const [account] = await tx.insert(accounts).values({ id: uuidv7(), name }).returning();
    if (!account) throw new Error("insert into accounts returned nothing");
    const key = await insertKey(tx as unknown as Db["orm"], account.id, "default");
    return { account, key };
  });
}

export async function createKey(db: Db, accountId: string, name?: string): Promise<CreatedKey> {
  const found = await db.orm.select({ id: accounts.id }).from(accounts).where(eq(accounts.id, accountId));
  if (found.length === 0) throw new AppError("not_found", `No account has the id ${accountId}.`, { field: "account_id" });
  return insertKey(db.orm, accountId, name);
}

async function insertKey(orm: Db["orm"], accountId: string, name?: string): Promise<CreatedKey> {
  const prefix = `hk_${randomBytes(4).toString("hex")}`;
  const key = `${prefix}_${randomBytes(24).toString("base64url")}`;
  const id = uuidv7();
  await orm.insert(apiKeys).values({ id, accountId, prefix, hash: hashKey(key), name: name ?? null });
  return { id, key, prefix };
}

export async function revokeKey(db: Db, keyId: string, accountId?: string): Promise<boolean> {
  const where = accountId
    ? and(eq(apiKeys.id, keyId), eq(apiKeys.accountId, accountId), isNull(apiKeys.revokedAt))
    : and(eq(apiKeys.id, keyId), isNull(apiKeys.revokedAt));
  const rows = await db.orm.update(apiKeys).set({ revokedAt: new Date() }).where(where).returning({ id: apiKeys.id, hash: apiKeys.hash });
  for (const r of rows) keyCache.delete(r.hash);
  return rows.length > 0;
}

/**
 * Recently verified keys, so a busy client does not cost a query per request. A key
 * revoked through this process stops at once; one revoked elsewhere (another process,
 * the CLI) stops within KEY_CACHE_MS. Concurrent requests that miss share one look-up:
 * without that, every expiry sent each in-flight request of a busy key to the database
 * at once (126 look-ups instead of 8 in a 15-second, 50-concurrent bench).
 */
const KEY_CACHE_MS = 2000;
const keyCache = new Map<string, { account: Promise<Account | undefined>; until: number }>();

/** The account a bearer key belongs to, or undefined for unknown and revoked keys alike. */
export async function accountForKey(db: Db, key: string): Promise<Account | undefined> {
  const hash = hashKey(key);
  const hit = keyCache.get(hash);
  if (hit && hit.until > Date.now()) return hit.account;
  if (keyCache.size > 10_000) keyCache.clear();
  const account = lookUpKey(db, hash);
  keyCache.set(hash, { account, until: Date.now() + KEY_CACHE_MS });
  // An unknown key, or a failed look-up, is not remembered: the next request asks again.
  account.then(
    (a) => (a ? void touchKey(db, hash) : forget(hash, account)),
    () => forget(hash, account),
  );
  return account;
}

function forget(hash: string, account: Promise<Account | undefined>): void {
  if (keyCache.get(hash)?.account === account) keyCache.delete(hash);
}

async function lookUpKey(db: Db, hash: string): Promise<Account | undefined> {
  const rows = await db.sql<Account[]>`
    select a.id, a.name, a.bounces_enabled as "bouncesEnabled", a.monthly_quota as "monthlyQuota",
      a.api_rate_limit as "apiRateLimit", a.created_at as "createdAt"
    from api_keys k join accounts a on a.id = k.account_id
    where k.hash = ${hash} and k.revoked_at is null`;
  return rows[0];
}

export async function listAccounts(db: Db): Promise<(Account & { timeZone: string })[]> {
  return db.orm.select().from(accounts).orderBy(accounts.createdAt);
}

/**
 * Records when a key was last used, at most once a minute per key and only when the
 * cache missed, so that a busy key costs no write per request. Never fails a request.
 */
async function touchKey(db: Db, hash: string): Promise<void> {
  await db.sql`
    update api_keys set last_used_at = now()
    where hash = ${hash} and (last_used_at is null or last_used_at < now() - interval '1 minute')`.catch(() => {});
}

export interface KeyListing {
  id: string;
  prefix: string;
  name: string | null;
  created_at: Date;
  last_used_at: Date | null;
}

/** An account's active keys, oldest first, after the key id `after`: never their secrets (only hashes are kept). */
export async function listKeys(db: Db, accountId: string, limit: number, after?: string): Promise<KeyListing[]> {
  return db.sql<KeyListing[]>`
    select id, prefix, name, created_at, last_used_at from api_keys
    where account_id = ${accountId} and revoked_at is null ${after ? db.sql`and id > ${after}` : db.sql``}
    order by id limit ${limit}`;
}

export interface AccountSettings {
  id: string;
  name: string;
  monthly_quota: number | null;
  time_zone: string;
  suppression_list: boolean;
  api_rate_limit: number | null;
}

/** Sets the quota (null: unlimited), time zone, suppression list and API rate limit; undefined leaves a setting as it is. */
export async function updateAccountSettings(
  db: Db,
  id: string,
  change: {
    monthly_quota?: number | null | undefined;
    time_zone?: string | undefined;
    suppression_list?: boolean | undefined;
    api_rate_limit?: number | null | undefined;
  },
): Promise<AccountSettings | undefined> {
  const sql = db.sql;
  if (change.time_zone !== undefined) {
    const [known] = await sql`select 1 from pg_timezone_names where name = ${change.time_zone}`;
    if (!known) {
      throw new AppError("validation_error", `time_zone "${change.time_zone}" is not an IANA time zone name such as Asia/Tokyo or UTC.`, {
        field: "time_zone",
      });
    }
  }
  if (!isUuid(id)) return undefined;
  const [row] = await sql<AccountSettings[]>`
    update accounts set
      monthly_quota = ${change.monthly_quota === undefined ? sql`monthly_quota` : sql`${change.monthly_quota}`},
      time_zone = coalesce(${change.time_zone ?? null}::text, time_zone),
      suppression_list = coalesce(${change.suppression_list ?? null}::bool, suppression_list),
      api_rate_limit = ${change.api_rate_limit === undefined ? sql`api_rate_limit` : sql`${change.api_rate_limit}`}
    where id = ${id}
    returning id, name, monthly_quota, time_zone, suppression_list, api_rate_limit`;
  return row;
}
