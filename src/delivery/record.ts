// The one writer of delivery outcomes. In a single statement (so atomically, and in one
// round trip, shared with the other calls made at the same moment) it moves recipients
// to their new state, writes exactly one log event per recipient that actually moved,
// counts down the message's pending recipients, deletes the message bytes once nothing
// is pending, queues the next attempt if any recipient was deferred, and writes the
// intent of a DSN for the recipients that failed (so a crash cannot lose that DSN).
import type { Sql, Tx } from "../db/client.ts";
import { groupCommitPer } from "../db/group-commit.ts";
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
  outcome: Pick<Outcome, "code" | "enhanced" | "response" | "source" | "mxHost" | "mxIp" | "tls" | "tlsFallback" | "tlsDetail">;
}

export interface RecordOptions {
  /** Only recipients currently in one of these states move (guards against double events). */
  from: RecipientState[];
  at: Date;
  /** When a deferred recipient is tried again. */
  retryAt?: Date;
  /** Attempt number to log: the recipient's attempts counter plus this offset. */
  attemptOffset?: number;
  /**
   * Not an attempt (the destination's budget had no room, src/delivery/shaper.ts): the
   * claim's attempt is given back, the recipient waits again (queued if it was never
   * attempted), the event logs the attempts made so far, and the message comes back at
   * retryAt.
   */
  park?: boolean;
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
  /** The DSN intents written for this message's failures (src/delivery/dsn-intent.ts sends them). */
  dsn: number[];
}

const NOTHING: Recorded = { moved: 0, pending: null, cancelled: false, failed: [], dsn: [] };

export async function recordOutcomes(sql: Sql | Tx, msg: MessageRef, items: RecipientOutcome[], opts: RecordOptions): Promise<Recorded> {
  if (items.length === 0) return NOTHING;
  return groupFor(sql).add({ msg, items, opts });
}

interface Call {
  msg: MessageRef;
  items: RecipientOutcome[];
  opts: RecordOptions;
}

// Group commit (src/db/group-commit.ts): calls made at the same moment share one
// statement, up to 2,000 recipients of them; each keeps its own guard (`from`), events,
// retry and answer. An outcome waiting here is the duplicate window: the destination has
// the message, and a crash now sends it again. Once the statement is sent, PostgreSQL
// commits it even if this process dies. So two statements run at once, not one as for
// intake (whose waiting costs only latency): a call waits for a free slot less often.
// More than two made batches smaller and cost more than they saved: at six, the bench's
// one-connection-per-message SMTP run carried 2 outcomes per statement and PostgreSQL
// spent 12% more CPU per message (a statement's start-up, not its rows, is the cost).
export const OUTCOME_STATEMENTS_IN_FLIGHT = 2;
const groupFor = groupCommitPer((sql: Sql | Tx, calls: Call[]) => recordMany(sql, calls), {
  weight: (c) => c.items.length,
  maxWeight: 2000,
  maxInFlight: OUTCOME_STATEMENTS_IN_FLIGHT,
});

/** One statement for any number of calls, each answered as if it had been made alone. */
async function recordMany(sql: Sql | Tx, calls: Call[]): Promise<Recorded[]> {
  const meta = calls.map(({ msg, opts }, c) => ({
    c,
    message_id: msg.id,
    account_id: msg.accountId,
    envelope_sender: msg.envelopeFrom,
    source_ip: msg.sourceIp,
    channel: msg.channel,
    priority: msg.priority,
    tags: msg.tags,
    at: opts.at,
    retry_at: opts.retryAt ?? opts.at,
    attempt_offset: opts.attemptOffset ?? 0,
    from_states: opts.from,
    park: opts.park ?? false,
  }));
  const all = calls.flatMap((call, c) => call.items.map((item) => ({ c, item })));
  const col = <T>(f: (i: RecipientOutcome) => T) => all.map(({ item }) => f(item));
  const rows = await sql<Recorded[]>`
    with calls as (
      select * from jsonb_to_recordset(${sql.json(meta as never)}::jsonb) as x(
        c int, message_id uuid, account_id uuid, envelope_sender text, source_ip text, channel text, priority int,
        tags text[], at timestamptz, retry_at timestamptz, attempt_offset int, from_states text[], park bool)
    ),
    input as (
      select * from unnest(
        ${all.map((a) => a.c)}::int[], ${col((i) => i.recipientId)}::bigint[], ${col((i) => i.event)}::text[],
        ${col((i) => i.outcome.code)}::int[], ${col((i) => i.outcome.enhanced)}::text[], ${col((i) => i.outcome.response)}::text[],
        ${col((i) => i.outcome.source)}::text[], ${col((i) => i.outcome.mxHost)}::text[], ${col((i) => i.outcome.mxIp)}::text[],
        -- postgres.js serialises boolean arrays wrongly, so TLS travels as text
        ${col((i) => (i.outcome.tls === null ? null : String(i.outcome.tls)))}::text[],
        ${col((i) => (i.outcome.tlsFallback === undefined ? null : String(i.outcome.tlsFallback)))}::text[],
        ${col((i) => i.outcome.tlsDetail ?? null)}::text[]
      ) as t(c, id, event, code, enhanced, response, source, mx_host, mx_ip, tls, tls_fallback, tls_detail)
    ),
    moved as (
      update recipients r
      set state = case when not k.park then i.event when r.attempts <= 1 then 'queued' else 'deferred' end,
          attempts = r.attempts - k.park::int, last_code = i.code, last_enhanced_code = i.enhanced,
          last_response = i.response, updated_at = k.at,
          next_attempt_at = case when k.park or i.event = 'deferred' then k.retry_at end
      from input i join calls k on k.c = i.c
      where r.id = i.id and r.message_id = k.message_id and r.state = any(k.from_states)
      returning r.id, r.message_id, r.address, r.attempts, r.state, i.c, k.park
    ),
    events as (
      insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender,
        source_ip, channel, attempt, mx_host, mx_ip, tls, tls_fallback, tls_detail, code, enhanced_code, response, code_source, tags)
      select k.account_id, k.at, i.event, k.message_id, m.address, k.envelope_sender, k.source_ip,
        k.channel, m.attempts + k.attempt_offset, i.mx_host, i.mx_ip, i.tls::bool, i.tls_fallback::bool, i.tls_detail, i.code, i.enhanced,
        i.response, i.source, k.tags
      from moved m join input i on i.id = m.id and i.c = m.c join calls k on k.c = m.c
    ),
    counted as (
      select message_id, count(*) filter (where state not in ('deferred', 'queued')) as finals from moved group by message_id
    ),
    msg as (
      update messages g set pending = g.pending - n.finals
      from counted n where g.id = n.message_id
      returning g.id, g.pending
    ),
    content as (
      delete from message_contents where message_id in (select id from msg where pending = 0)
    ),
    -- One DSN intent per call that failed recipients, with the header block the DSN
    -- quotes (read before the content delete beside it: every part sees one snapshot).
    -- Never for a bounce (empty envelope sender), nor when the account turned bounces off.
    dsn as (
      insert into dsn_intents (account_id, message_id, envelope_from, message_created_at, headers, failures, created_at)
      select k.account_id, k.message_id, k.envelope_sender, g.created_at,
        (select case when position(decode('0d0a0d0a', 'hex') in mc.raw) > 0
                then substring(mc.raw from 1 for position(decode('0d0a0d0a', 'hex') in mc.raw) + 1) else mc.raw end
         from message_contents mc where mc.message_id = k.message_id),
        jsonb_agg(jsonb_build_object('address', m.address, 'status', coalesce(i.enhanced, '5.0.0'), 'diagnostic', i.response,
          'remote_mta', i.mx_host) order by m.id),
        k.at
      from moved m join input i on i.id = m.id and i.c = m.c join calls k on k.c = m.c
        join messages g on g.id = k.message_id join accounts a on a.id = k.account_id
      where m.state in ('bounced', 'expired') and k.envelope_sender <> '' and a.bounces_enabled
      group by k.c, k.account_id, k.message_id, k.envelope_sender, g.created_at, k.at
      returning id, message_id
    ),
    retry as (
      insert into delivery_queue (message_id, run_at, priority)
      select k.message_id, min(k.retry_at), min(k.priority)
      from moved m join calls k on k.c = m.c
      where (m.state = 'deferred' or m.park)
        and not exists (select 1 from messages where id = k.message_id and cancelled_at is not null)
      group by k.message_id
      on conflict (message_id) do update set run_at = least(delivery_queue.run_at, excluded.run_at)
    ),
    usage as (
      insert into usage_counters (account_id, month, shard, delivered, bounced, expired)
      select a.id, to_char(k.at at time zone a.time_zone, 'YYYY-MM') as month, ${usageShard()},
        count(*) filter (where m.state = 'delivered'), count(*) filter (where m.state = 'bounced'),
        count(*) filter (where m.state = 'expired')
      from moved m join calls k on k.c = m.c join accounts a on a.id = k.account_id
      where k.envelope_sender <> ''
      group by a.id, month
      having count(*) filter (where m.state in ('delivered', 'bounced', 'expired')) > 0
      on conflict (account_id, month, shard) do update set
        delivered = usage_counters.delivered + excluded.delivered,
        bounced = usage_counters.bounced + excluded.bounced,
        expired = usage_counters.expired + excluded.expired
    )
    select
      (select count(*) from moved m where m.c = k.c)::int as moved,
      (select pending from msg where msg.id = k.message_id and exists (select 1 from moved m where m.c = k.c)) as pending,
      (select cancelled_at is not null from messages where id = k.message_id) as cancelled,
      (select coalesce(json_agg(json_build_object('id', m.id, 'address', m.address, 'state', m.state)), '[]'::json)
       from moved m where m.c = k.c and m.state in ('bounced', 'expired')) as failed,
      (select coalesce(json_agg(d.id), '[]'::json) from dsn d where d.message_id = k.message_id) as dsn
    from calls k order by k.c`;
  return [...rows]; // one row per call, in call order
}
