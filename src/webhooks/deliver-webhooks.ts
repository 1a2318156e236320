// The webhook job for one endpoint: take its due outbox rows, POST each event (signed),
// events of one message one after another and in order, different messages side by
// side; then, in one transaction, delete what was delivered, reschedule what failed
// (exponential backoff for 24 h), and disable the endpoint on 410 or after 3 days of
// failures. One job per endpoint runs at a time (its job key), so order holds.
import { now } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Db, Tx } from "../db/client.ts";
import { formatEvent } from "../logs/format-event.ts";
import { countWebhookRound, type WebhookRound } from "../metrics/instruments.ts";
import { signingSecrets } from "./endpoints.ts";
import { failureClass, type PostResult, safePost } from "./safe-post.ts";
import { signatureHeader } from "./signature.ts";

const ROUND = 500;
const PARALLEL = 16;
const MAX_DELAY_MS = 2 * 3600_000;
const GIVE_UP_AFTER_MS = 24 * 3600_000;
const DISABLE_AFTER_MS = 3 * 24 * 3600_000;

export interface WebhookContext {
  db: Db;
  config: Config;
}

interface EndpointRow {
  id: string;
  url: string;
  enabled: boolean;
  secret: Buffer;
  previousSecret: Buffer | null;
  previousSecretUntil: Date | null;
  failingSince: Date | null;
}

interface OutboxRow {
  id: number;
  source: "delivery" | "reception";
  eventId: number;
  messageId: string | null;
  attempts: number;
  createdAt: Date;
  blocked: boolean;
}

interface Attempt {
  row: OutboxRow;
  webhookId: string;
  type: string;
  result: PostResult;
}

/** Delivers the endpoint's due events, round after round, for at most `budgetMs`. */
export async function deliverEndpoint(ctx: WebhookContext, endpointId: string, budgetMs = 30_000): Promise<void> {
  const stopAt = Date.now() + budgetMs;
  while (Date.now() < stopAt) {
    const [endpoint] = await ctx.db.sql<EndpointRow[]>`
      select id, url, enabled, secret, previous_secret as "previousSecret", previous_secret_until as "previousSecretUntil",
        failing_since as "failingSince"
      from webhook_endpoints where id = ${endpointId}`;
    if (!endpoint?.enabled) return;
    if ((await deliverRound(ctx, endpoint)) === 0) return;
  }
}

async function deliverRound(ctx: WebhookContext, endpoint: EndpointRow): Promise<number> {
  const at = now();
  const rows = await ctx.db.sql<OutboxRow[]>`
    select o.id, o.source, o.event_id as "eventId", o.message_id as "messageId", o.attempts, o.created_at as "createdAt",
      o.message_id is not null and exists (
        select 1 from webhook_outbox p
        where p.endpoint_id = o.endpoint_id and p.message_id = o.message_id and p.id < o.id and p.run_at > ${at}) as blocked
    from webhook_outbox o where o.endpoint_id = ${endpoint.id} and o.run_at <= ${at}
    order by o.id limit ${ROUND}`;
  if (rows.length === 0) return 0;
  const blocked = rows.filter((r) => r.blocked);
  const bodies = await eventBodies(
    ctx.db,
    rows.filter((r) => !r.blocked),
  );
  const attempts = await send(
    ctx,
    endpoint,
    rows.filter((r) => !r.blocked),
    bodies,
  );
  const round = await ctx.db.sql.begin((tx) => settle(tx, ctx.config, endpoint, rows, blocked, bodies, attempts));
  if (round) countWebhookRound(round);
  return rows.length;
}

/** The log events, as GET /v1/logs shows them, plus `type` and `account_id`. */
async function eventBodies(db: Db, rows: OutboxRow[]): Promise<Map<number, { type: string; body: string }>> {
  const ids = (source: string) => rows.filter((r) => r.source === source).map((r) => r.eventId);
  const [deliveries, receptions] = await Promise.all([
    db.sql`select * from delivery_events where id = any(${ids("delivery")}::bigint[])`,
    db.sql`select * from reception_events where id = any(${ids("reception")}::bigint[])`,
  ]);
  const byKey = new Map<string, { type: string; body: string }>();
  for (const e of deliveries)
    byKey.set(`delivery:${e.id}`, { type: e.event, body: JSON.stringify({ type: e.event, account_id: e.account_id, ...formatEvent("delivery", e) }) });
  for (const e of receptions) {
    byKey.set(`reception:${e.id}`, {
      type: "reception.refused",
      body: JSON.stringify({ type: "reception.refused", account_id: e.account_id, ...formatEvent("reception", e) }),
    });
  }
  const out = new Map<number, { type: string; body: string }>();
  for (const r of rows) {
    const b = byKey.get(`${r.source}:${r.eventId}`);
    if (b) out.set(r.id, b);
  }
  return out;
}

/** The same id on every attempt and replay of one event, so receivers can drop repeats. */
export const webhookIdOf = (source: string, eventId: number) => `evt_${source === "delivery" ? "d" : "r"}${eventId}`;

/** Each message's events in order, stopping at its first failure; messages in parallel. */
async function send(ctx: WebhookContext, endpoint: EndpointRow, rows: OutboxRow[], bodies: Map<number, { type: string; body: string }>): Promise<Attempt[]> {
  const secrets = signingSecrets(ctx.config, endpoint);
  const chains = new Map<string, OutboxRow[]>();
  for (const r of rows) {
    if (!bodies.has(r.id)) continue; // the event itself is gone (retention): nothing to say
    const key = r.messageId ?? `row:${r.id}`;
    chains.set(key, [...(chains.get(key) ?? []), r]);
  }
  const attempts: Attempt[] = [];
  let gone = false;
  const runChain = async (chain: OutboxRow[]) => {
    for (const row of chain) {
      if (gone) return;
      const { type, body } = bodies.get(row.id) as { type: string; body: string };
      const webhookId = webhookIdOf(row.source, row.eventId);
      const timestamp = Math.floor(now().getTime() / 1000);
      const headers = {
        "webhook-id": webhookId,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signatureHeader(secrets, webhookId, timestamp, body),
      };
      const result = await safePost(endpoint.url, headers, body, {
        allowPrivate: ctx.config.HIKYAKU_ALLOW_PRIVATE_DESTINATIONS,
        timeoutMs: ctx.config.HIKYAKU_WEBHOOK_TIMEOUT * 1000,
      });
      attempts.push({ row, webhookId, type, result });
      if (result.status === 410) gone = true;
      if (!isSuccess(result)) return;
    }
  };
  const queue = [...chains.values()];
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
      for (let chain = queue.shift(); chain; chain = queue.shift()) await runChain(chain);
    }),
  );
  return attempts;
}

const isSuccess = (r: PostResult) => r.status !== null && r.status >= 200 && r.status < 300;

/** Backoff after the n-th failed attempt (1-based): the configured first delay, doubling, at most 2 h. */
export function retryDelayMs(config: Config, attempt: number): number {
  return Math.min(config.HIKYAKU_WEBHOOK_RETRY_SECONDS * 1000 * 2 ** (attempt - 1), MAX_DELAY_MS);
}

async function settle(
  tx: Tx,
  config: Config,
  endpoint: EndpointRow,
  rows: OutboxRow[],
  blocked: OutboxRow[],
  bodies: Map<number, unknown>,
  attempts: Attempt[],
): Promise<WebhookRound | null> {
  // The endpoint row first, as DELETE and PATCH lock it, so the two never deadlock; NO KEY
  // UPDATE leaves the triggers' foreign-key checks (KEY SHARE) free to queue new events.
  const [live] = await tx`select 1 from webhook_endpoints where id = ${endpoint.id} and enabled for no key update`;
  if (!live) return null;
  const at = now();
  const done: number[] = rows.filter((r) => !r.blocked && !bodies.has(r.id)).map((r) => r.id);
  const retry: { id: number; runAt: Date }[] = [];
  let abandoned = 0;
  const log: { webhookId: string; type: string; attempt: number; status: number | null; result: string; error: string | null; ms: number }[] = [];
  for (const a of attempts) {
    const attempt = a.row.attempts + 1;
    const entry = { webhookId: a.webhookId, type: a.type, attempt, status: a.result.status, error: a.result.error, ms: a.result.durationMs };
    if (isSuccess(a.result)) {
      done.push(a.row.id);
      log.push({ ...entry, result: "delivered" });
      continue;
    }
    const runAt = new Date(at.getTime() + retryDelayMs(config, attempt));
    const giveUp = runAt.getTime() > a.row.createdAt.getTime() + GIVE_UP_AFTER_MS;
    if (giveUp) {
      done.push(a.row.id);
      abandoned++;
    } else retry.push({ id: a.row.id, runAt });
    log.push({ ...entry, result: giveUp ? "failed" : "retrying", error: entry.error ?? `HTTP ${a.result.status}` });
  }
  if (done.length > 0) await tx`delete from webhook_outbox where id = any(${done}::bigint[])`;
  if (retry.length > 0) {
    await tx`
      update webhook_outbox o set attempts = o.attempts + 1, run_at = r.run_at
      from unnest(${retry.map((r) => r.id)}::bigint[], ${retry.map((r) => r.runAt.toISOString())}::timestamptz[]) as r(id, run_at)
      where o.id = r.id`;
  }
  // Later events of a message wait behind its first undelivered one, whether it failed
  // now (not attempted after it) or earlier (blocked): they become due with it.
  const attempted = new Set(attempts.map((a) => a.row.id));
  const waiting = [...blocked, ...rows.filter((r) => !r.blocked && bodies.has(r.id) && !attempted.has(r.id))].map((r) => r.id);
  if (waiting.length > 0) {
    await tx`
      update webhook_outbox o set run_at = greatest(o.run_at, (
        select max(p.run_at) from webhook_outbox p where p.endpoint_id = o.endpoint_id and p.message_id = o.message_id and p.id < o.id))
      where o.id = any(${waiting}::bigint[])`;
  }
  if (log.length > 0) {
    await tx`
      insert into webhook_deliveries (endpoint_id, webhook_id, event_type, attempt, status, result, error, duration_ms, at)
      select ${endpoint.id}, l.webhook_id, l.event_type, l.attempt, l.status, l.result, l.error, l.ms, ${at}
      from jsonb_to_recordset(${tx.json(log.map((l) => ({ webhook_id: l.webhookId, event_type: l.type, attempt: l.attempt, status: l.status, result: l.result, error: l.error, ms: l.ms })))}::jsonb)
        as l(webhook_id text, event_type text, attempt int, status int, result text, error text, ms int)`;
  }
  const disabled = await updateHealth(tx, endpoint, attempts, at);
  const failures = attempts.map((a) => failureClass(a.result)).filter((c) => c !== null);
  return { delivered: attempts.length - failures.length, failures, abandoned, disabled };
}

/** A success ends the failure streak; 410 Gone, or a streak of 3 days, disables the endpoint. */
async function updateHealth(tx: Tx, endpoint: EndpointRow, attempts: Attempt[], at: Date): Promise<WebhookRound["disabled"]> {
  if (attempts.length === 0) return null;
  const gone = attempts.find((a) => a.result.status === 410);
  const failures = attempts.filter((a) => !isSuccess(a.result));
  const last = failures[failures.length - 1];
  const since = failures.length < attempts.length ? null : (endpoint.failingSince ?? at);
  let reason: string | null = null;
  if (gone) reason = `The endpoint answered 410 Gone at ${at.toISOString()}, so webhooks to it stopped; PATCH it with "enabled": true to resume.`;
  if (!reason && since && last && at.getTime() - since.getTime() >= DISABLE_AFTER_MS) {
    const what = last.result.status === null ? last.result.error : `HTTP ${last.result.status}`;
    reason = `Every attempt failed for 3 days (since ${since.toISOString()}; the last: ${what}), so webhooks to it stopped; fix the endpoint and PATCH it with "enabled": true.`;
  }
  if (reason) {
    await tx`update webhook_endpoints set enabled = false, disabled_reason = ${reason}, failing_since = ${since}, updated_at = ${at} where id = ${endpoint.id}`;
    await tx`delete from webhook_outbox where endpoint_id = ${endpoint.id}`;
    return gone ? "gone" : "failing";
  }
  if ((since?.getTime() ?? null) !== (endpoint.failingSince?.getTime() ?? null)) {
    await tx`update webhook_endpoints set failing_since = ${since} where id = ${endpoint.id}`;
  }
  return null;
}
