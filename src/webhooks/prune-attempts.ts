// Webhook attempts are kept as long as log events (HIKYAKU_LOG_RETENTION_DAYS); the
// per-minute sweep deletes older ones a batch at a time.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";

export async function pruneWebhookAttempts(db: Db, retentionDays: number, batch = 5000): Promise<number> {
  const cutoff = new Date(now().getTime() - retentionDays * 86_400_000);
  const rows = await db.sql`
    delete from webhook_deliveries where id = any(array(select id from webhook_deliveries where at < ${cutoff} limit ${batch})) returning 1`;
  return rows.length;
}
