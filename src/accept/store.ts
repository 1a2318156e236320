// Commits an accepted message: its row, its bytes, its recipients, its outbox row and
// its reception event in one statement (atomic, one round trip). The caller answers
// 202 or 250 only after this returns. With an idempotency key the key is claimed in
// the same transaction, so a retried request can never store the message twice.
import type { Db, Tx } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { uuidv7 } from "../util/ids.ts";
import { PRIORITIES } from "../worker/dispatcher.ts";
import { domainOf } from "./addresses.ts";
import type { Policy } from "./policy.ts";
import type { Submission } from "./accept.ts";

export interface Accepted {
  id: string;
  message_id: string;
  state: "queued" | "scheduled";
  send_at: string | null;
  expires_at: string;
  recipients: { email: string; state: "queued" | "scheduled" }[];
}

export interface StoreInput {
  sub: Submission;
  envelope: { from: string; recipients: string[] };
  policy: Policy;
  raw: Buffer;
  messageIdHeader: string;
  at: Date;
}

export async function storeMessage(db: Db, input: StoreInput): Promise<Accepted> {
  const { sub } = input;
  if (!sub.idempotency) return insert(db.sql, input, uuidv7());
  const idem = sub.idempotency;
  try {
    return await db.sql.begin(async (tx) => {
      const messageId = uuidv7();
      const claimed = await tx`
        insert into idempotency_keys (account_id, key, request_hash, status, response, created_at)
        values (${sub.accountId}, ${idem.key}, ${idem.requestHash}, 202, '{}'::jsonb, ${input.at})
        on conflict (account_id, key) do nothing returning 1`;
      if (claimed.length === 0) throw new Replay();
      const accepted = await insert(tx, input, messageId);
      await tx`update idempotency_keys set response = ${tx.json(accepted as never)} where account_id = ${sub.accountId} and key = ${idem.key}`;
      return accepted;
    });
  } catch (err) {
    if (!(err instanceof Replay)) throw err;
    return replay(db, sub.accountId, idem);
  }
}

class Replay extends Error {}

async function replay(db: Db, accountId: string, idem: { key: string; requestHash: string }): Promise<Accepted> {
  const [row] = await db.sql<{ requestHash: string; response: Accepted }[]>`
    select request_hash as "requestHash", response from idempotency_keys where account_id = ${accountId} and key = ${idem.key}`;
  if (!row) throw new AppError("conflict", "The Idempotency-Key was just released; retry the request.", { field: "Idempotency-Key" });
  if (row.requestHash !== idem.requestHash) {
    throw new AppError("idempotency_conflict", "This Idempotency-Key was already used with a different request body; use a new key for a new message.", { field: "Idempotency-Key" });
  }
  return row.response;
}

/**
 * Usage counters are sharded so that concurrent commits do not queue on one row lock:
 * with 8 shards the accept statement spent 2.5 ms per call waiting on them under 64
 * concurrent requests, with 64 shards 0.8 ms (pg_stat_statements).
 */
export const usageShard = () => Math.floor(Math.random() * 64);

async function insert(sql: Db["sql"] | Tx, input: StoreInput, id: string): Promise<Accepted> {
  const { sub, policy, envelope, at } = input;
  const deliverableAt = policy.sendAt ?? at;
  const expiresAt = new Date(deliverableAt.getTime() + policy.lifetime * 1000);
  const state = policy.sendAt ? "scheduled" : "queued";
  const domains = envelope.recipients.map(domainOf);
  await sql`
    with m as (
      insert into messages (id, account_id, channel, source_ip, envelope_from, message_id_header, priority, lifetime,
        retry_interval, tags, metadata, size_bytes, created_at, deliverable_at, expires_at, pending, quiet_hours)
      values (${id}, ${sub.accountId}, ${sub.channel}, ${sub.sourceIp}, ${envelope.from}, ${input.messageIdHeader},
        ${PRIORITIES[policy.priority]}, ${policy.lifetime}, ${policy.retryInterval}, ${policy.tags}::text[],
        ${sub.metadata ? sql.json(sub.metadata as never) : null}, ${input.raw.length}, ${at}, ${deliverableAt},
        ${expiresAt}, ${envelope.recipients.length}, ${policy.quietHours ? sql.json(policy.quietHours as never) : null})
      returning id
    ),
    c as (insert into message_contents (message_id, raw) select id, ${input.raw} from m),
    r as (
      insert into recipients (message_id, address, domain, state, updated_at)
      select m.id, t.address, t.domain, ${state}, ${at}
      from m, unnest(${envelope.recipients}::text[], ${domains}::text[]) with ordinality as t(address, domain, n)
      order by t.n
    ),
    q as (insert into delivery_queue (message_id, run_at, priority) select id, ${deliverableAt}, ${PRIORITIES[policy.priority]} from m),
    usage as (
      insert into usage_counters (account_id, month, shard, messages_accepted, recipients_accepted)
      select a.id, to_char(${at}::timestamptz at time zone a.time_zone, 'YYYY-MM'), ${usageShard()}, 1, ${envelope.recipients.length}
      from accounts a, m where a.id = ${sub.accountId} and ${envelope.from} <> ''
      on conflict (account_id, month, shard) do update set
        messages_accepted = usage_counters.messages_accepted + excluded.messages_accepted,
        recipients_accepted = usage_counters.recipients_accepted + excluded.recipients_accepted
    )
    insert into reception_events (account_id, created_at, channel, source_ip, envelope_sender, recipient_count,
      accepted, code, enhanced_code, reason, message_id)
    select ${sub.accountId}, ${at}, ${sub.channel}, ${sub.sourceIp}, ${envelope.from}, ${envelope.recipients.length},
      true, ${sub.channel === "smtp" ? 250 : 202}, '2.0.0', 'accepted', id from m`;
  return {
    id,
    message_id: input.messageIdHeader,
    state,
    send_at: policy.sendAt?.toISOString() ?? null,
    expires_at: expiresAt.toISOString(),
    recipients: envelope.recipients.map((email) => ({ email, state })),
  };
}
