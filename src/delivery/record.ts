// The one writer of delivery outcomes. In a single statement (so atomically, and in one
// round trip) it moves recipients to their new state, writes exactly one log event per
// recipient that actually moved, counts down the message's pending recipients, deletes
// the message bytes once nothing is pending, and queues the next attempt if any
// recipient was deferred.
import type { Sql, Tx } from "../db/client.ts";
import { usageShard } from "../accept/store.ts";
import type { Outcome } from "./outcome.ts";

export type RecipientState = "scheduled" | "queued" | "deferred" | "sending" | "delivered" | "bounced" | "expired" | "cancelled";
export type LogEvent = "delivered" | "deferred" | "bounced" | "expired" | "cancelled";
export const WAITING_STATES: RecipientState[] = ["scheduled", "queued", "deferred"];

export interface MessageRef {
  id: string;
  accountId: string;
  envelopeFrom: string;
  sourceIp: string | null;
  channel: string;
  priority: number;
  tags: string[];
}

export interface RecipientOutcome {
  recipientId: number;
  event: LogEvent;
  outcome: Pick<Outcome, "code" | "enhanced" | "response" | "source" | "mxHost" | "mxIp" | "tls">;
}

export interface RecordOptions {
  /** Only recipients currently in one of these states move (guards against double events). */
  from: RecipientState[];
  at: Date;
  /** When a deferred recipient is tried again. */
  retryAt?: Date;
  /** Attempt number to log: the recipient's attempts counter plus this offset. */
  attemptOffset?: number;
}

export interface Recorded {
  /** How many recipients moved (each got exactly one event). */
  moved: number;
  /** Recipients of the message still not final, or null if none moved. */
  pending: number | null;
  /** The message was cancelled (DELETE) before this statement. */
  cancelled: boolean;
  /** Recipients that this call moved to bounced or expired: they need a DSN. */
  failed: { id: number; address: string; state: "bounced" | "expired" }[];
}

export async function recordOutcomes(sql: Sql | Tx, msg: MessageRef, items: RecipientOutcome[], opts: RecordOptions): Promise<Recorded> {
  if (items.length === 0) return { moved: 0, pending: null, cancelled: false, failed: [] };
  const col = <T>(f: (i: RecipientOutcome) => T) => items.map(f);
  const rows = await sql<Recorded[]>`
    with input as (
      select * from unnest(
        ${col((i) => i.recipientId)}::bigint[], ${col((i) => i.event)}::text[], ${col((i) => i.outcome.code)}::int[],
        ${col((i) => i.outcome.enhanced)}::text[], ${col((i) => i.outcome.response)}::text[],
        ${col((i) => i.outcome.source)}::text[], ${col((i) => i.outcome.mxHost)}::text[],
        ${col((i) => i.outcome.mxIp)}::text[],
        -- postgres.js serialises boolean arrays wrongly, so TLS travels as text
        ${col((i) => (i.outcome.tls === null ? null : String(i.outcome.tls)))}::text[]
      ) as t(id, event, code, enhanced, response, source, mx_host, mx_ip, tls)
    ),
    moved as (
      update recipients r
      set state = i.event, last_code = i.code, last_enhanced_code = i.enhanced,
          last_response = i.response, updated_at = ${opts.at}
      from input i
      where r.id = i.id and r.message_id = ${msg.id} and r.state = any(${opts.from}::text[])
      returning r.id, r.address, r.attempts, r.state
    ),
    events as (
      insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender,
        source_ip, channel, attempt, mx_host, mx_ip, tls, code, enhanced_code, response, code_source, tags)
      select ${msg.accountId}, ${opts.at}, i.event, ${msg.id}, m.address, ${msg.envelopeFrom}, ${msg.sourceIp},
        ${msg.channel}, m.attempts + ${opts.attemptOffset ?? 0}, i.mx_host, i.mx_ip, i.tls::bool, i.code, i.enhanced,
        i.response, i.source, ${msg.tags}::text[]
      from moved m join input i on i.id = m.id
      returning 1
    ),
    msg as (
      update messages set pending = pending - (select count(*) from moved where state <> 'deferred')
      where id = ${msg.id} and exists (select 1 from moved)
      returning pending
    ),
    content as (
      delete from message_contents where message_id = ${msg.id} and exists (select 1 from msg where pending = 0)
    ),
    retry as (
      insert into delivery_queue (message_id, run_at, priority)
      select ${msg.id}, ${opts.retryAt ?? opts.at}, ${msg.priority}
      where exists (select 1 from moved where state = 'deferred')
        and not exists (select 1 from messages where id = ${msg.id} and cancelled_at is not null)
      on conflict (message_id) do update set run_at = least(delivery_queue.run_at, excluded.run_at)
    ),
    usage as (
      insert into usage_counters (account_id, month, shard, delivered, bounced, expired)
      select a.id, to_char(${opts.at}::timestamptz at time zone a.time_zone, 'YYYY-MM'), ${usageShard()},
        count(*) filter (where m.state = 'delivered'), count(*) filter (where m.state = 'bounced'),
        count(*) filter (where m.state = 'expired')
      from moved m, accounts a where a.id = ${msg.accountId} and ${msg.envelopeFrom} <> ''
      group by a.id having count(*) filter (where m.state in ('delivered', 'bounced', 'expired')) > 0
      on conflict (account_id, month, shard) do update set
        delivered = usage_counters.delivered + excluded.delivered,
        bounced = usage_counters.bounced + excluded.bounced,
        expired = usage_counters.expired + excluded.expired
    )
    select (select count(*) from events)::int as moved, (select pending from msg) as pending,
      (select cancelled_at is not null from messages where id = ${msg.id}) as cancelled,
      (select coalesce(json_agg(json_build_object('id', m.id, 'address', m.address, 'state', m.state)), '[]'::json)
       from moved m where m.state in ('bounced', 'expired')) as failed`;
  return rows[0] ?? { moved: 0, pending: null, cancelled: false, failed: [] };
}
