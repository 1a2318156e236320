// Sending domains and their keys in the database, always scoped to one account: another
// account's domain is found exactly as often as an unknown one (never). Several accounts
// may register one name; the first to verify it owns it (domain-owner.ts).
import { now } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Db, Sql, Tx } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { uuidv7 } from "../util/ids.ts";
import { forgetDomainOwners } from "./domain-owner.ts";
import type { DkimAlgorithm } from "./key-generation.ts";
import { newKeys } from "./new-keys.ts";
import { forgetSigningKeys } from "./signing-keys.ts";

export interface DomainRow {
  id: string;
  account_id: string;
  domain: string;
  sign_before_verify: boolean;
  created_at: Date;
}

export interface KeyRow {
  id: string;
  domain_id: string;
  selector: string;
  algorithm: DkimAlgorithm;
  public_key: string;
  state: "pending" | "active" | "retired";
  created_at: Date;
  verified_at: Date | null;
  retired_at: Date | null;
}

type Deps = { db: Db; config: Config };

/**
 * Registers `domain` (already checked, ASCII) with a pending key set. Another account's
 * registration does not stand in the way, only its verification (src/domains/domain-owner.ts):
 * 409 when this account holds the domain already or another one has verified it.
 */
export async function createDomain(deps: Deps, accountId: string, domain: string, signBeforeVerify: boolean): Promise<DomainRow> {
  await refuseIfVerifiedElsewhere(deps.db.sql, accountId, domain);
  const id = uuidv7();
  const at = now();
  const keys = await newKeys(deps.config, id, at);
  const row = await deps.db.sql.begin(async (tx) => {
    const [inserted] = await tx<DomainRow[]>`
      insert into domains (id, account_id, domain, sign_before_verify, created_at)
      values (${id}, ${accountId}, ${domain}, ${signBeforeVerify}, ${at})
      on conflict (domain, account_id) do nothing
      returning id, account_id, domain, sign_before_verify, created_at`;
    if (!inserted) throw new AppError("conflict", `${domain} is already registered in this account; see GET /v1/domains/${domain}.`, { field: "domain" });
    await tx`insert into dkim_keys ${tx(keys)}`;
    return inserted;
  });
  forgetSigningKeys(accountId);
  return row;
}

/** 409 when an account other than `accountId` has verified exactly `domain`. */
export async function refuseIfVerifiedElsewhere(sql: Sql | Tx, accountId: string, domain: string): Promise<void> {
  const [other] = await sql`
    select 1 from domains d join dkim_keys k on k.domain_id = d.id
    where d.domain = ${domain} and d.account_id <> ${accountId} and k.verified_at is not null limit 1`;
  if (!other) return;
  throw new AppError(
    "conflict",
    `${domain} is verified by another Hikyaku account, which owns it: its DKIM record was found first. If the domain is yours, remove that account's DKIM record from DNS and ask support to release it.`,
    { field: "domain" },
  );
}

export async function findDomain(db: Db, accountId: string, domain: string): Promise<DomainRow | undefined> {
  const [row] = await db.sql<DomainRow[]>`
    select id, account_id, domain, sign_before_verify, created_at from domains where domain = ${domain} and account_id = ${accountId}`;
  return row;
}

/** One page in domain-name order, after the domain `after`. */
export async function listDomains(db: Db, accountId: string, limit: number, after?: string): Promise<DomainRow[]> {
  return db.sql<DomainRow[]>`
    select id, account_id, domain, sign_before_verify, created_at from domains
    where account_id = ${accountId} ${after ? db.sql`and domain > ${after}` : db.sql``}
    order by domain limit ${limit}`;
}

/** Every key of these domains, newest first. */
export async function keysOf(db: Db, domainIds: string[]): Promise<Map<string, KeyRow[]>> {
  const rows = await db.sql<KeyRow[]>`
    select id, domain_id, selector, algorithm, public_key, state, created_at, verified_at, retired_at
    from dkim_keys where domain_id = any(${domainIds}::uuid[]) order by created_at desc, algorithm desc`;
  const map = new Map<string, KeyRow[]>(domainIds.map((id) => [id, []]));
  for (const r of rows) map.get(r.domain_id)?.push(r);
  return map;
}

export async function deleteDomain(db: Db, accountId: string, domain: string): Promise<boolean> {
  const rows = await db.sql`delete from domains where domain = ${domain} and account_id = ${accountId} returning id`;
  forgetSigningKeys(accountId);
  forgetDomainOwners();
  return rows.length > 0;
}

export async function setSignBeforeVerify(db: Db, accountId: string, domain: string, value: boolean): Promise<DomainRow | undefined> {
  const [row] = await db.sql<DomainRow[]>`
    update domains set sign_before_verify = ${value} where domain = ${domain} and account_id = ${accountId}
    returning id, account_id, domain, sign_before_verify, created_at`;
  forgetSigningKeys(accountId);
  return row;
}

/**
 * A new pending key set. The active keys keep signing until the new record verifies;
 * an earlier rotation's keys that never verified are retired now, replaced by these.
 */
export async function rotateKeys(deps: Deps, domain: DomainRow): Promise<void> {
  const at = now();
  const keys = await newKeys(deps.config, domain.id, at);
  await deps.db.sql.begin(async (tx) => {
    await tx`select id from domains where id = ${domain.id} for update`;
    await tx`update dkim_keys set state = 'retired', retired_at = ${at} where domain_id = ${domain.id} and state = 'pending'`;
    await tx`insert into dkim_keys ${tx(keys)}`;
  });
  forgetSigningKeys(domain.account_id);
}

/**
 * Marks found pending keys active and retires the older active key of each one's
 * algorithm. The first activation verifies the domain, so verifications of one name
 * take turns (an advisory lock on it) and one by a second account is refused.
 */
export async function activateKeys(deps: Deps, domain: DomainRow, found: KeyRow[]): Promise<void> {
  if (found.length === 0) return;
  const at = now();
  await deps.db.sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${`domain-owner:${domain.domain}`}, 0))`;
    await refuseIfVerifiedElsewhere(tx, domain.account_id, domain.domain);
    await tx`select id from domains where id = ${domain.id} for update`;
    for (const k of found) {
      const [activated] = await tx`update dkim_keys set state = 'active', verified_at = ${at} where id = ${k.id} and state = 'pending' returning id`;
      if (!activated) continue;
      await tx`
        update dkim_keys set state = 'retired', retired_at = ${at}
        where domain_id = ${domain.id} and algorithm = ${k.algorithm} and state = 'active' and id <> ${k.id} and created_at <= ${k.created_at}`;
    }
  });
  forgetSigningKeys(domain.account_id);
  forgetDomainOwners();
}
