// The expiry sweeper: whatever happened (a lost job, a crashed worker, a backlog), no
// recipient stays unfinished past its lifetime plus two minutes. Waiting recipients of
// expired messages are expired at once; ones left `sending` get a grace minute for an
// attempt still in flight. recordOutcomes' state guard makes each expiry happen once.
import { now } from "../clock.ts";
import { countOutcomes } from "../metrics/instruments.ts";
import type { DeliveryContext } from "./deliver.ts";
import { sendDsnIntents } from "./dsn-intent.ts";
import { type MessageRef, recordOutcomes, WAITING_STATES } from "./record.ts";
import { service } from "./smtp-attempt.ts";

const SENDING_GRACE_MS = 60_000;

export async function sweepExpired(ctx: Pick<DeliveryContext, "db" | "config">, limit = 500): Promise<number> {
  const at = now();
  const due = await ctx.db.sql<(MessageRef & { recipients: { id: number; state: string }[] })[]>`
    select m.id, m.account_id as "accountId", m.envelope_from as "envelopeFrom", m.source_ip as "sourceIp",
      m.channel, m.priority, m.tags, json_agg(json_build_object('id', r.id, 'state', r.state)) as recipients
    from messages m
    join recipients r on r.message_id = m.id
    where m.pending > 0 and m.expires_at <= ${at}
      and (r.state = any(${WAITING_STATES}::text[])
           or (r.state = 'sending' and m.expires_at <= ${new Date(at.getTime() - SENDING_GRACE_MS)}))
    group by m.id
    limit ${limit}`;
  let expired = 0;
  const o = service("expired", null, null, null);
  for (const msg of due) {
    const items = msg.recipients.map((r) => ({ recipientId: r.id, event: "expired" as const, outcome: o }));
    const recorded = await recordOutcomes(ctx.db.sql, msg, items, { from: [...WAITING_STATES, "sending"], at });
    await ctx.db.sql`delete from delivery_queue where message_id = ${msg.id}`;
    expired += recorded.moved;
    countOutcomes(items.slice(0, recorded.moved));
    await sendDsnIntents({ db: ctx.db, config: ctx.config }, recorded.dsn);
  }
  return expired;
}
