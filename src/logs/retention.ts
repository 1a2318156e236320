// Deletes what the service promises not to keep: log events older than the retention
// period (HIKYAKU_LOG_RETENTION_DAYS), finished messages (envelope and recipient
// addresses) as old, idempotency keys after a day and SMTP AUTH failures after an hour.
// Usage counters are not touched: they outlive the logs. Deletes run in small batches,
// each its own short transaction, so the tables stay fast and unlocked while it runs.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { dayExpr } from "./conditions.ts";

export interface RetentionOptions {
  retentionDays: number;
  /** The present, as the clock module sees it. */
  at?: Date;
  batch?: number;
}

export interface RetentionResult {
  deliveryEvents: number;
  receptionEvents: number;
  messages: number;
  idempotencyKeys: number;
  authFailures: number;
}

const DAY = 86_400_000;

export async function deleteExpired(db: Db, opts: RetentionOptions): Promise<RetentionResult> {
  const at = opts.at ?? now();
  const cutoff = new Date(at.getTime() - opts.retentionDays * DAY);
  const batch = opts.batch ?? 5000;
  const sql = db.sql;
  const inBatches = async (deleteSome: () => Promise<{ count: number }>) => {
    let total = 0;
    for (;;) {
      const { count } = await deleteSome();
      total += count;
      if (count < batch) return total;
    }
  };
  // The event tables' (account_id, day, ...) index finds old rows by day; the tag table
  // has (account_id, created_at).
  const cutoffDay = Math.floor(cutoff.getTime() / DAY);
  const byDay = (table: LogTable) => (table === "delivery_event_tags" ? sql`` : sql`${dayExpr(sql)} <= ${cutoffDay} and`);
  const oldRows = async (table: LogTable) => {
    let total = 0;
    for (const account of await accountsIn(db, table)) {
      const owner = account === null ? sql`account_id is null` : sql`account_id = ${account}`;
      total += await inBatches(
        () => sql`
          delete from ${sql(table)} where ctid = any(array(
            select ctid from ${sql(table)} where ${owner} and ${byDay(table)} created_at < ${cutoff} limit ${batch}))`,
      );
    }
    return total;
  };
  const deliveryEvents = await oldRows("delivery_events");
  await oldRows("delivery_event_tags");
  return {
    deliveryEvents,
    receptionEvents: await oldRows("reception_events"),
    messages: await deleteFinishedMessages(db, cutoff, batch, inBatches),
    idempotencyKeys: await inBatches(
      () => sql`
        delete from idempotency_keys where ctid = any(array(
          select ctid from idempotency_keys where created_at < ${new Date(at.getTime() - DAY)} limit ${batch}))`,
    ),
    authFailures: await inBatches(
      () => sql`delete from auth_failures where id in (select id from auth_failures where at < ${new Date(at.getTime() - 3_600_000)} limit ${batch})`,
    ),
  };
}

type LogTable = "delivery_events" | "delivery_event_tags" | "reception_events";

/**
 * The accounts that have rows in a log table (deleted ones included; null for intake
 * attempts no account could be named for), found by hopping along an index that leads
 * with account_id: one probe per account, however many rows each has.
 */
async function accountsIn(db: Db, table: LogTable): Promise<(string | null)[]> {
  const sql = db.sql;
  const rows = await sql<{ id: string | null }[]>`
    with recursive a(id) as (
      (select account_id from ${sql(table)} where account_id is not null order by account_id limit 1)
      union all
      select (select account_id from ${sql(table)} where account_id > a.id order by account_id limit 1) from a where a.id is not null
    )
    select id from a where id is not null`;
  const ids: (string | null)[] = rows.map((r) => r.id);
  if (table === "reception_events") ids.push(null);
  return ids;
}
/** Account by account, so each batch is an index range on (account_id, created_at). */
async function deleteFinishedMessages(
  db: Db,
  cutoff: Date,
  batch: number,
  inBatches: (f: () => Promise<{ count: number }>) => Promise<number>,
): Promise<number> {
  let total = 0;
  for (const { id } of await db.sql<{ id: string }[]>`select id from accounts`) {
    total += await inBatches(
      () => db.sql`
        delete from messages where id in (
          select id from messages
          where account_id = ${id} and created_at < ${cutoff} and expires_at < ${cutoff} and pending = 0
          limit ${batch})`,
    );
  }
  return total;
}
