// The one delivery path: claim a batch of messages' waiting recipients, then for each
// message and destination domain find the servers, attempt, and record the outcomes.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";
import type { ConnectionPool } from "./connection-pool.ts";
import { type DestinationOptions, findDestination } from "./destination.ts";
import type { Outcome } from "./outcome.ts";
import { type MessageRef, type RecipientOutcome, type RecipientState, recordOutcomes, WAITING_STATES } from "./record.ts";
import { attemptDomain, service } from "./smtp-attempt.ts";

export interface DeliveryContext {
  db: Db;
  pool: ConnectionPool;
  destination: DestinationOptions;
  maxRecipientsPerTransaction: number;
}

interface Claimed extends MessageRef {
  raw: Buffer;
  retryInterval: number;
  expiresAt: Date;
  recipients: { id: number; address: string; domain: string }[];
}

/** Delivers every waiting recipient of these messages. `reclaim` also takes recipients a crashed attempt left in `sending`. */
export async function deliverMessages(ctx: DeliveryContext, ids: string[], reclaim: boolean): Promise<void> {
  const claimed = await claim(ctx.db, ids, reclaim);
  await Promise.all(claimed.map((m) => deliverOne(ctx, m)));
}

async function claim(db: Db, ids: string[], reclaim: boolean): Promise<Claimed[]> {
  const states: RecipientState[] = reclaim ? [...WAITING_STATES, "sending"] : WAITING_STATES;
  const at = now();
  return db.sql<Claimed[]>`
    with c as (
      update recipients set state = 'sending', attempts = attempts + 1, updated_at = ${at}
      where message_id = any(${ids}::uuid[]) and state = any(${states}::text[])
      returning id, message_id, address, domain
    )
    select m.id, m.account_id as "accountId", m.envelope_from as "envelopeFrom", m.source_ip as "sourceIp",
      m.channel, m.priority, m.tags, m.retry_interval as "retryInterval", m.expires_at as "expiresAt", mc.raw,
      json_agg(json_build_object('id', c.id, 'address', c.address, 'domain', c.domain)) as recipients
    from c join messages m on m.id = c.message_id join message_contents mc on mc.message_id = m.id
    group by m.id, mc.raw`;
}

async function deliverOne(ctx: DeliveryContext, msg: Claimed): Promise<void> {
  if (now() >= msg.expiresAt) return expire(ctx, msg);
  const byDomain = new Map<string, Claimed["recipients"]>();
  for (const r of msg.recipients) byDomain.set(r.domain, [...(byDomain.get(r.domain) ?? []), r]);
  await Promise.all([...byDomain].map(([domain, rcpts]) => deliverDomain(ctx, msg, domain, rcpts)));
}

async function deliverDomain(ctx: DeliveryContext, msg: Claimed, domain: string, rcpts: Claimed["recipients"]) {
  let outcomes: Map<string, Outcome>;
  try {
    outcomes = await attemptTo(ctx, msg, domain, rcpts);
  } catch (err) {
    log.error("delivery attempt failed internally", { message_id: msg.id, domain, err: err as Error });
    const o = service("internal_error", null, null, null);
    outcomes = new Map(rcpts.map((r) => [r.address, o]));
  }
  const items: RecipientOutcome[] = rcpts.map((r) => {
    const outcome = outcomes.get(r.address) ?? service("protocol_error", null, null, null, "no outcome");
    return { recipientId: r.id, event: outcome.kind, outcome };
  });
  const at = now();
  const retryAt = new Date(Math.min(at.getTime() + msg.retryInterval * 1000, msg.expiresAt.getTime()));
  await recordOutcomes(ctx.db.sql, msg, items, { from: ["sending"], at, retryAt });
}

async function attemptTo(ctx: DeliveryContext, msg: Claimed, domain: string, rcpts: Claimed["recipients"]) {
  const dest = await findDestination(domain, ctx.destination);
  if (!dest.ok) {
    const o = service(dest.service, null, null, null, dest.detail);
    return new Map(rcpts.map((r) => [r.address, o]));
  }
  return attemptDomain(ctx.pool, {
    envelopeFrom: msg.envelopeFrom,
    recipients: rcpts.map((r) => r.address),
    raw: msg.raw,
    targets: dest.targets,
    tls: "opportunistic",
    maxRecipientsPerTransaction: ctx.maxRecipientsPerTransaction,
  });
}

async function expire(ctx: DeliveryContext, msg: Claimed): Promise<void> {
  const o = service("expired", null, null, null);
  const items = msg.recipients.map((r) => ({ recipientId: r.id, event: "expired" as const, outcome: o }));
  await recordOutcomes(ctx.db.sql, msg, items, { from: ["sending"], at: now(), attemptOffset: -1 });
}
