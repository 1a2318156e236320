// Reads the delivery and reception logs for one account: newest first, filtered, and
// paged by an opaque cursor over the event id.
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";

export const DELIVERY_EVENTS = ["delivered", "deferred", "bounced", "expired", "cancelled"] as const;

export interface LogFilter {
  accountId: string;
  type: "delivery" | "reception";
  messageId?: string;
  recipient?: string;
  events?: string[];
  since?: Date;
  until?: Date;
  limit: number;
  cursor?: string;
}

export function encodeCursor(id: number): string {
  return Buffer.from(`v1:${id}`).toString("base64url");
}

function decodeCursor(cursor: string): number {
  const m = /^v1:(\d{1,18})$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!m) throw new AppError("validation_error", "cursor is not one this API gave out; pass next_cursor unchanged.", { field: "cursor" });
  return Number(m[1]);
}

export async function queryLogs(db: Db, f: LogFilter): Promise<{ rows: Record<string, unknown>[]; nextCursor: string | null }> {
  const sql = db.sql;
  const before = f.cursor ? decodeCursor(f.cursor) : undefined;
  const common = sql`
    account_id = ${f.accountId}
    ${before !== undefined ? sql`and id < ${before}` : sql``}
    ${f.since ? sql`and created_at >= ${f.since}` : sql``}
    ${f.until ? sql`and created_at < ${f.until}` : sql``}
    ${f.messageId ? sql`and message_id = ${f.messageId}` : sql``}`;
  const rows =
    f.type === "delivery"
      ? await sql`
          select id, created_at, event, message_id, recipient, envelope_sender, source_ip, channel, attempt, mx_host,
            mx_ip, tls, code, enhanced_code, response, code_source, tags
          from delivery_events where ${common}
          ${f.recipient ? sql`and recipient = ${f.recipient}` : sql``}
          ${f.events?.length ? sql`and event = any(${f.events}::text[])` : sql``}
          order by id desc limit ${f.limit + 1}`
      : await sql`
          select id, created_at, channel, source_ip, envelope_sender, recipient_count, accepted, code, enhanced_code,
            reason, message_id
          from reception_events where ${common}
          order by id desc limit ${f.limit + 1}`;
  const page = rows.slice(0, f.limit);
  const last = page[page.length - 1];
  return {
    rows: page.map((r) => ({ ...r, created_at: undefined, time: (r.created_at as Date).toISOString() })),
    nextCursor: rows.length > f.limit && last ? encodeCursor(last.id as number) : null,
  };
}
