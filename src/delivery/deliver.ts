// The one delivery path: claim a batch of messages' waiting recipients, then for each
// message: cancelled → cancel; expired → expire; inside quiet hours → hold; otherwise
// for each destination domain find the servers, attempt, record the outcomes, and send
// a DSN for the failures.
import type { QuietHours } from "../accept/policy.ts";
import { now } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";
import { countOutcomes, countParked, observeAttempt } from "../metrics/instruments.ts";
import type { ConnectionPool } from "./connection-pool.ts";
import { type DestinationOptions, findDestination } from "./destination.ts";
import { sendDsnIntents } from "./dsn-intent.ts";
import type { MtaSts } from "./mta-sts.ts";
import { windowEnd } from "./quiet-hours.ts";
import { type MessageRef, type RecipientOutcome, type RecipientState, type Recorded, recordOutcomes, WAITING_STATES } from "./record.ts";
import { attemptShaped, type Park, type ShapedResult } from "./shaped-attempt.ts";
import type { Shaper } from "./shaper.ts";
import { service } from "./smtp-attempt.ts";
import { planTls } from "./tls-plan.ts";

export interface DeliveryContext {
  db: Db;
  config: Config;
  pool: ConnectionPool;
  destination: DestinationOptions;
  /** Destination policies and their shared budgets (F10). */
  shaper: Shaper;
  /** MTA-STS policies for domains whose policy says `tls: mta-sts` (F11). */
  mtaSts?: MtaSts;
}

export interface Claimed extends MessageRef {
  raw: Buffer;
  retryInterval: number;
  createdAt: Date;
  expiresAt: Date;
  cancelledAt: Date | null;
  quietHours: QuietHours | null;
  recipients: { id: number; address: string; domain: string; attempts: number }[];
}

type Rcpt = Claimed["recipients"][number];

/** Delivers every waiting recipient of these messages. `reclaim` also takes recipients a crashed attempt left in `sending`. */
export async function deliverMessages(ctx: DeliveryContext, ids: string[], reclaim: boolean): Promise<void> {
  const claimed = await claim(ctx.db, ids, reclaim);
  await Promise.all(claimed.map((m) => deliverOne(ctx, m)));
}

/**
 * A recipient due this much later is taken now all the same: the processes' clocks may
 * differ by a little, and the message would otherwise come straight back for it.
 */
const DUE_SLACK_MS = 1000;

/**
 * Takes the recipients that are due: a message runs when the first of them is, and
 * one recipient's short park (F10) is not another's retry. Those not due yet wait for
 * their time, with the message queued for the first of them, in the same statement.
 */
async function claim(db: Db, ids: string[], reclaim: boolean): Promise<Claimed[]> {
  const states: RecipientState[] = reclaim ? [...WAITING_STATES, "sending"] : WAITING_STATES;
  const at = now();
  const due = new Date(at.getTime() + DUE_SLACK_MS);
  // Every table is reached through the ids themselves (`= any(ids)`), not only through a
  // join: the plan PostgreSQL caches for a connection may be made while messages looks
  // small (a new or just-emptied table), and a join alone then stays a scan of the whole
  // table for the life of that plan.
  return db.sql<Claimed[]>`
    with c as (
      update recipients set state = 'sending', attempts = attempts + 1, updated_at = ${at}
      where message_id = any(${ids}::uuid[]) and state = any(${states}::text[])
        and (next_attempt_at is null or next_attempt_at <= ${due} or state = 'sending')
      returning id, message_id, address, domain, attempts
    ),
    later as (
      insert into delivery_queue (message_id, run_at, priority)
      select r.message_id, min(r.next_attempt_at), min(m.priority)
      from recipients r join messages m on m.id = r.message_id
      where r.message_id = any(${ids}::uuid[]) and m.id = any(${ids}::uuid[])
        and r.state = any(${WAITING_STATES}::text[]) and r.next_attempt_at > ${due} and m.cancelled_at is null
      group by r.message_id
      on conflict (message_id) do update set run_at = least(delivery_queue.run_at, excluded.run_at)
    )
    select m.id, m.account_id as "accountId", m.envelope_from as "envelopeFrom", m.source_ip as "sourceIp",
      m.channel, m.priority, m.tags, m.retry_interval as "retryInterval", m.created_at as "createdAt",
      m.expires_at as "expiresAt", m.cancelled_at as "cancelledAt", m.quiet_hours as "quietHours", mc.raw,
      json_agg(json_build_object('id', c.id, 'address', c.address, 'domain', c.domain, 'attempts', c.attempts)) as recipients
    from c join messages m on m.id = c.message_id join message_contents mc on mc.message_id = m.id
    where m.id = any(${ids}::uuid[]) and mc.message_id = any(${ids}::uuid[])
    -- by the two keys, not by the bytes: raw depends on mc.message_id, so it need not be grouped on
    group by m.id, mc.message_id`;
}

async function deliverOne(ctx: DeliveryContext, msg: Claimed): Promise<void> {
  if (msg.cancelledAt) return finish(ctx, msg, msg.recipients, "cancelled");
  const holdUntil = msg.quietHours ? windowEnd(msg.quietHours, now()) : null;
  if (holdUntil) return hold(ctx.db, msg, holdUntil);
  if (now() >= msg.expiresAt) return finish(ctx, msg, msg.recipients, "expired");
  const byDomain = new Map<string, Rcpt[]>();
  for (const r of msg.recipients) byDomain.set(r.domain, [...(byDomain.get(r.domain) ?? []), r]);
  await Promise.all([...byDomain].map(([domain, rcpts]) => deliverDomain(ctx, msg, domain, rcpts)));
}

async function deliverDomain(ctx: DeliveryContext, msg: Claimed, domain: string, rcpts: Rcpt[]) {
  let result: ShapedResult;
  const started = performance.now();
  try {
    result = await attemptTo(ctx, msg, domain, rcpts);
    observeAttempt((performance.now() - started) / 1000);
  } catch (err) {
    log.error("delivery attempt failed internally", { message_id: msg.id, domain, err: err as Error });
    const o = service("internal_error", null, null, null);
    result = { outcomes: new Map(rcpts.map((r) => [r.address, o])), parks: [] };
  }
  const byAddress = new Map(rcpts.map((r) => [r.address, r]));
  const parked = new Set(result.parks.flatMap((p) => p.recipients));
  const items: RecipientOutcome[] = rcpts
    .filter((r) => !parked.has(r.address))
    .map((r) => {
      const outcome = result.outcomes.get(r.address) ?? service("protocol_error", null, null, null, "no outcome");
      return { recipientId: r.id, event: outcome.kind, outcome };
    });
  const at = now();
  // A retry that falls inside quiet hours is held at claim time (see hold()).
  const retryAt = new Date(Math.min(at.getTime() + msg.retryInterval * 1000, msg.expiresAt.getTime()));
  const [recorded, ...parkedRecords] = await Promise.all([
    recordOutcomes(ctx.db.sql, msg, items, { from: ["sending"], at, retryAt }),
    ...result.parks.map((p) => park(ctx, msg, p, byAddress, at)),
  ]);
  if (recorded.moved > 0) countOutcomes(items, result.policy);
  await afterRecord(ctx, msg, recorded, items);
  if (parkedRecords.some((r) => r.cancelled)) await cancelWaiting(ctx.db, msg);
}

/** Recipients the destination's budget could not take: back to waiting, a `deferred` event that says why and when, no attempt spent. */
async function park(ctx: DeliveryContext, msg: Claimed, p: Park, byAddress: Map<string, Rcpt>, at: Date): Promise<Recorded> {
  const until = new Date(Math.min(Math.max(p.until.getTime(), at.getTime()), msg.expiresAt.getTime()));
  const o = service(p.reason, null, null, null, `next try at ${until.toISOString()}`);
  const items = p.recipients.flatMap((a) => {
    const r = byAddress.get(a);
    return r ? [{ recipientId: r.id, event: "deferred" as const, outcome: o }] : [];
  });
  const recorded = await recordOutcomes(ctx.db.sql, msg, items, { from: ["sending"], at, retryAt: until, park: true });
  countParked(p.reason, recorded.moved);
  return recorded;
}

/** DSN for what just failed; and a cancel that arrived during the attempt stops any retry. */
async function afterRecord(ctx: DeliveryContext, msg: Claimed, recorded: Recorded, items: RecipientOutcome[]) {
  if (recorded.dsn.length > 0) await sendDsnIntents({ db: ctx.db, config: ctx.config }, recorded.dsn);
  if (recorded.cancelled && items.some((i) => i.event === "deferred")) {
    await cancelWaiting(ctx.db, msg);
  }
}

async function attemptTo(ctx: DeliveryContext, msg: Claimed, domain: string, rcpts: Rcpt[]): Promise<ShapedResult> {
  const dest = await findDestination(domain, ctx.destination);
  if (!dest.ok) {
    const o = service(dest.service, null, null, null, dest.detail);
    return { outcomes: new Map(rcpts.map((r) => [r.address, o])), parks: [] };
  }
  const policy = ctx.shaper.resolve(
    domain,
    dest.targets.map((t) => t.host),
  );
  const tls = await planTls(ctx.mtaSts, domain, policy.policy.tls, dest);
  if (!tls.ok) return { outcomes: new Map(rcpts.map((r) => [r.address, tls.outcome])), parks: [], policy: policy.policy.domain };
  const shaped = await attemptShaped(ctx.shaper, ctx.pool, policy, {
    envelopeFrom: msg.envelopeFrom,
    raw: msg.raw,
    priority: msg.priority,
    targets: tls.targets,
    tls: tls.tls,
    audit: tls.audit,
    recipients: rcpts.map((r) => r.address),
  });
  return { ...shaped, policy: policy.policy.domain };
}

/** Ends claimed recipients without an attempt: expired (lifetime passed) or cancelled. */
async function finish(ctx: DeliveryContext, msg: Claimed, rcpts: Rcpt[], event: "expired" | "cancelled") {
  const o = service(event, null, null, null);
  const items = rcpts.map((r) => ({ recipientId: r.id, event, outcome: o }));
  const recorded = await recordOutcomes(ctx.db.sql, msg, items, { from: ["sending"], at: now(), attemptOffset: -1 });
  if (recorded.moved > 0) countOutcomes(items);
  await afterRecord(ctx, msg, recorded, items);
}

/** Cancels the recipients of a cancelled message that wait for a retry. */
export async function cancelWaiting(db: Db, msg: MessageRef): Promise<number> {
  const rows = await db.sql<{ id: number }[]>`
    select id from recipients where message_id = ${msg.id} and state = any(${WAITING_STATES}::text[])`;
  if (rows.length === 0) return 0;
  const o = service("cancelled", null, null, null);
  const items = rows.map((r) => ({ recipientId: r.id, event: "cancelled" as const, outcome: o }));
  const recorded = await recordOutcomes(db.sql, msg, items, { from: WAITING_STATES, at: now() });
  countOutcomes(items.slice(0, recorded.moved));
  await db.sql`delete from delivery_queue where message_id = ${msg.id}`;
  return recorded.moved;
}

/**
 * Quiet hours hold the message back: the claimed recipients return to waiting, the next
 * run is at the window's end, and the lifetime clock pauses for as long as the hold.
 */
async function hold(db: Db, msg: Claimed, until: Date): Promise<void> {
  const held = until.getTime() - now().getTime();
  await db.sql`
    with r as (
      update recipients set state = case when attempts <= 1 then 'queued' else 'deferred' end, attempts = attempts - 1
      where id = any(${msg.recipients.map((r) => r.id)}::bigint[]) and state = 'sending'
    ),
    m as (update messages set expires_at = expires_at + make_interval(secs => ${held / 1000}) where id = ${msg.id})
    insert into delivery_queue (message_id, run_at, priority) values (${msg.id}, ${until}, ${msg.priority})
    on conflict (message_id) do update set run_at = excluded.run_at`;
}
