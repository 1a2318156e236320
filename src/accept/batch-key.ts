// An Idempotency-Key on POST /v1/messages/batch covers the whole batch: the key itself
// holds the batch's hash, and each item is stored under `<key>#<index>` by storeMessage.
// A retried batch (even after a crash half-way) replays the items already committed and
// stores the rest; the same key with another batch is refused.
import type { Db } from "../db/client.ts";
import { now } from "../clock.ts";
import { AppError } from "../errors.ts";

export const itemKey = (key: string, index: number) => `${key}#${index}`;

export async function claimBatchKey(db: Db, accountId: string, key: string, requestHash: string): Promise<void> {
  const hash = `batch:${requestHash}`;
  const [row] = await db.sql<{ request_hash: string }[]>`
    with claimed as (
      insert into idempotency_keys (account_id, key, request_hash, status, response, created_at)
      values (${accountId}, ${key}, ${hash}, 200, '{}'::jsonb, ${now()})
      on conflict (account_id, key) do nothing
      returning request_hash)
    select request_hash from claimed
    union all
    select request_hash from idempotency_keys where account_id = ${accountId} and key = ${key}
    limit 1`;
  if (row && row.request_hash !== hash) {
    throw new AppError("idempotency_conflict", "This Idempotency-Key was already used with a different request; use a new key for a new batch.", {
      field: "Idempotency-Key",
    });
  }
}
