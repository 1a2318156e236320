// PATCH /v1/messages/{id}: moves send_at while the message is still scheduled (nothing
// attempted yet, not cancelled). The lifetime counts from the new send_at.
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";

export async function rescheduleMessage(db: Db, accountId: string, id: string, sendAt: Date): Promise<void> {
  const rows = await db.sql`
    with m as (
      update messages set deliverable_at = ${sendAt}, expires_at = ${sendAt}::timestamptz + make_interval(secs => lifetime)
      where id = ${id} and account_id = ${accountId} and cancelled_at is null
        and exists (select 1 from delivery_queue q where q.message_id = messages.id)
        and not exists (select 1 from recipients r where r.message_id = messages.id and r.state <> 'scheduled')
      returning id, priority
    )
    update delivery_queue q set run_at = ${sendAt} from m where q.message_id = m.id returning q.message_id`;
  if (rows.length > 0) return;
  const [exists] = await db.sql`select 1 from messages where id = ${id} and account_id = ${accountId}`;
  if (!exists) throw new AppError("not_found", `No message ${id} in this account.`, { field: "id" });
  throw new AppError("conflict", "The message is no longer scheduled (delivery has started, or it was cancelled); send_at can only move before that.", {
    field: "send_at",
  });
}
