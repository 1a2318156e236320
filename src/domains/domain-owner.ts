// Who owns a sending domain. Registering proves nothing; a verified DKIM record does:
// only the domain's DNS operator can publish the key Hikyaku generated for one account.
// So the first account whose record verifies owns the domain, and with it every
// subdomain that no other account has verified for itself (the nearest verified name
// decides, as the nearest registered one decides which key signs).
//
// Looked up on every accept, so answers (owner or none) are cached per process for a
// minute; this process forgets them whenever a verification or deletion changes
// ownership, other processes within the minute.
import type { Db } from "../db/client.ts";
import { candidateDomains } from "./signing-keys.ts";

export interface Owner {
  /** The verified name that decides: the domain itself or its nearest verified parent. */
  domain: string;
  accountId: string;
}

const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;
const cache = new Map<string, { expires: number; owner: Promise<Owner | undefined> }>();

/** The account that owns `domain` (ASCII, lower case), or undefined when nobody verified it or a parent. */
export function ownerOf(db: Db, domain: string): Promise<Owner | undefined> {
  const hit = cache.get(domain);
  if (hit && hit.expires > performance.now()) return hit.owner;
  if (cache.size >= MAX_ENTRIES) cache.clear();
  const owner = load(db, domain);
  cache.set(domain, { expires: performance.now() + TTL_MS, owner });
  // A failed look-up (database down) is not remembered.
  owner.catch(() => {
    if (cache.get(domain)?.owner === owner) cache.delete(domain);
  });
  return owner;
}

/** Called after a verification or a deletion: ownership of any name may have moved. */
export function forgetDomainOwners(): void {
  cache.clear();
}

async function load(db: Db, domain: string): Promise<Owner | undefined> {
  const candidates = candidateDomains(domain);
  // If two accounts ever verified one name (the lock in activateKeys prevents it), the first one owns it.
  const rows = await db.sql<{ domain: string; accountId: string }[]>`
    select d.domain, d.account_id as "accountId" from domains d
    join dkim_keys k on k.domain_id = d.id
    where d.domain = any(${candidates}::text[]) and k.verified_at is not null
    group by d.domain, d.account_id
    order by length(d.domain) desc, min(k.verified_at)
    limit 1`;
  return rows[0];
}
