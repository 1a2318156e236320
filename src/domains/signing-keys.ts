// Which keys sign a message From a domain: the account's key for that domain or its
// nearest registered parent, active (its record verified) or, when the domain allows
// it, still pending. Decrypted keys are cached per process for a minute so signing costs
// no database round trip per message; this process forgets an account's entries as soon
// as its domains change, other processes within the minute.
import { createPrivateKey } from "node:crypto";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { log } from "../logger.ts";
import type { Signer } from "./dkim-signature.ts";
import { decryptPrivateKey, encryptionKey } from "./key-encryption.ts";
import type { DkimAlgorithm } from "./key-generation.ts";

const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

interface Entry {
  expires: number;
  signers: Promise<Signer[]>;
}
const cache = new Map<string, Map<string, Entry>>();
let entries = 0;

/** The signers for mail From `fromDomain` (ASCII, lower case) in this account; [] when none. */
export function signersFor(deps: { db: Db; config: Config }, accountId: string, fromDomain: string): Promise<Signer[]> {
  const hit = cache.get(accountId)?.get(fromDomain);
  if (hit && hit.expires > performance.now()) return hit.signers;
  if (entries >= MAX_ENTRIES) forgetAll();
  const byDomain = cache.get(accountId) ?? new Map<string, Entry>();
  cache.set(accountId, byDomain);
  const signers = load(deps, accountId, fromDomain);
  if (!byDomain.has(fromDomain)) entries++;
  byDomain.set(fromDomain, { expires: performance.now() + TTL_MS, signers });
  // A failed load (database down, undecryptable key) is not remembered.
  signers.catch(() => {
    if (cache.get(accountId)?.get(fromDomain)?.signers !== signers) return;
    cache.get(accountId)?.delete(fromDomain);
    entries--;
  });
  return signers;
}

/** Called after any change to an account's domains or keys. */
export function forgetSigningKeys(accountId: string): void {
  entries -= cache.get(accountId)?.size ?? 0;
  cache.delete(accountId);
}

function forgetAll(): void {
  cache.clear();
  entries = 0;
}

/** shop.example for a.b.shop.example: the domain itself, then each parent with two or more labels. */
export function candidateDomains(domain: string): string[] {
  const labels = domain.split(".");
  return labels.slice(0, -1).map((_, i) => labels.slice(i).join("."));
}

interface KeyRow {
  id: string;
  domain: string;
  sign_before_verify: boolean;
  selector: string;
  algorithm: DkimAlgorithm;
  private_key: Buffer;
  state: "active" | "pending";
  created_at: Date;
}

async function load(deps: { db: Db; config: Config }, accountId: string, fromDomain: string): Promise<Signer[]> {
  const candidates = candidateDomains(fromDomain);
  const rows = await deps.db.sql<KeyRow[]>`
    select k.id, d.domain, d.sign_before_verify, k.selector, k.algorithm, k.private_key, k.state, k.created_at
    from domains d join dkim_keys k on k.domain_id = d.id
    where d.account_id = ${accountId} and d.domain = any(${candidates}::text[]) and k.state in ('active', 'pending')
    order by k.created_at desc`;
  for (const domain of candidates) {
    const keys = rows.filter((r) => r.domain === domain && (r.state === "active" || r.sign_before_verify));
    if (keys.length === 0) continue;
    // Per algorithm: an active key wins over a pending one; the newest wins among equals.
    const chosen = new Map<DkimAlgorithm, KeyRow>();
    for (const k of keys.sort((a, b) => Number(b.state === "active") - Number(a.state === "active"))) {
      if (!chosen.has(k.algorithm)) chosen.set(k.algorithm, k);
    }
    // RSA on top: some receivers look only at the first signature.
    return [chosen.get("rsa-sha256"), chosen.get("ed25519-sha256")].filter((k) => k !== undefined).map((k) => toSigner(k, deps.config));
  }
  return [];
}

function toSigner(k: KeyRow, config: Config): Signer {
  try {
    const privateKey = createPrivateKey(decryptPrivateKey(k.private_key, k.id, encryptionKey(config)));
    return { algorithm: k.algorithm, domain: k.domain, selector: k.selector, privateKey };
  } catch (err) {
    log.error("DKIM key cannot be decrypted", { key_id: k.id, domain: k.domain, err: err as Error });
    throw new AppError(
      "unavailable",
      `The DKIM key for ${k.domain} cannot be decrypted (HIKYAKU_SECRET_KEY is not the one it was made with); nothing was stored. Retry after the operator fixes it.`,
      { cause: err },
    );
  }
}
