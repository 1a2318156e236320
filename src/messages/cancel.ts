// DELETE /v1/messages/{id}: cancels every recipient that waits (scheduled, queued or
// deferred). An attempt already in flight keeps its outcome; if it defers, the retry is
// cancelled instead (see deliver.ts). Nothing is attempted after this returns.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { cancelWaiting } from "../delivery/deliver.ts";
import type { MessageRef } from "../delivery/record.ts";
import { AppError } from "../errors.ts";

export async function cancelMessage(db: Db, accountId: string, id: string): Promise<{ cancelled: number; inFlight: number }> {
  const [msg] = await db.sql<(MessageRef & { inFlight: number; waiting: number })[]>`
    update messages m set cancelled_at = coalesce(m.cancelled_at, ${now()})
    where m.id = ${id} and m.account_id = ${accountId}
    returning m.id, m.account_id as "accountId", m.envelope_from as "envelopeFrom", m.source_ip as "sourceIp",
      m.channel, m.priority, m.tags,
      (select count(*)::int from recipients r where r.message_id = m.id and r.state = 'sending') as "inFlight",
      (select count(*)::int from recipients r where r.message_id = m.id and r.state in ('scheduled', 'queued', 'deferred')) as waiting`;
  if (!msg) throw new AppError("not_found", `No message ${id} in this account.`, { field: "id" });
  const cancelled = msg.waiting > 0 ? await cancelWaiting(db, msg) : 0;
  if (cancelled === 0 && msg.inFlight === 0) {
    throw new AppError("conflict", "Nothing is left to cancel: every recipient of this message is already final.", { field: "id" });
  }
  return { cancelled, inFlight: msg.inFlight };
}
