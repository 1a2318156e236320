// The account's messages, newest first, one keyset page at a time: GET /v1/messages.
// A message's state is derived from its recipients the same way GET /v1/messages/{id} does.
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";

export const MESSAGE_STATES = ["scheduled", "queued", "sending", "deferred", "completed"] as const;
export type MessageState = (typeof MESSAGE_STATES)[number];

export interface MessageFilter {
  accountId: string;
  state?: MessageState;
  tag?: string;
  channel?: "http" | "smtp" | "dsn";
  since?: Date;
  until?: Date;
}

export interface MessageSummaryRow {
  id: string;
  message_id_header: string;
  channel: "http" | "smtp" | "dsn";
  envelope_from: string;
  priority: number;
  tags: string[];
  metadata: Record<string, unknown> | null;
  created_at: Date;
  deliverable_at: Date;
  expires_at: Date;
  cancelled_at: Date | null;
  state: MessageState;
  recipient_count: number;
  /** created_at as PostgreSQL prints it: microseconds, which a JS Date would round away. */
  created_text: string;
}

export async function listMessages(
  db: Db,
  f: MessageFilter,
  limit: number,
  cursor?: string,
): Promise<{ rows: MessageSummaryRow[]; nextCursor: string | null }> {
  const after = cursor === undefined ? undefined : decodeMessageCursor(cursor);
  const sql = db.sql;
  const rows = await sql<MessageSummaryRow[]>`
    select m.id, m.message_id_header, m.channel, m.envelope_from, m.priority, m.tags, m.metadata, m.created_at,
      m.deliverable_at, m.expires_at, m.cancelled_at, s.state, s.recipient_count, m.created_at::text as created_text
    from messages m
    cross join lateral (
      select count(*)::int as recipient_count,
        case when m.pending = 0 then 'completed'
          when bool_or(r.state = 'sending') then 'sending'
          when bool_or(r.state = 'deferred') then 'deferred'
          when bool_or(r.state = 'queued') then 'queued'
          when bool_or(r.state = 'scheduled') then 'scheduled'
          else 'queued' end as state
      from recipients r where r.message_id = m.id) s
    where m.account_id = ${f.accountId}
      ${f.tag === undefined ? sql`` : sql`and ${f.tag} = any(m.tags)`}
      ${f.channel === undefined ? sql`` : sql`and m.channel = ${f.channel}`}
      ${f.since === undefined ? sql`` : sql`and m.created_at >= ${f.since}`}
      ${f.until === undefined ? sql`` : sql`and m.created_at < ${f.until}`}
      ${f.state === undefined ? sql`` : sql`and s.state = ${f.state}`}
      ${after === undefined ? sql`` : sql`and (m.created_at, m.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`}
    order by m.created_at desc, m.id desc
    limit ${limit + 1}`;
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { rows: page, nextCursor: rows.length > limit && last ? encodeMessageCursor(last.created_text, last.id) : null };
}

const encodeMessageCursor = (createdAt: string, id: string) => Buffer.from(`m1|${createdAt}|${id}`).toString("base64url");

function decodeMessageCursor(cursor: string): { createdAt: string; id: string } {
  const m = /^m1\|(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?[+-]\d\d(?::\d\d)?)\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(
    Buffer.from(cursor, "base64url").toString(),
  );
  if (!m?.[1] || !m[2]) throw new AppError("validation_error", "cursor is not one this API gave out; pass next_cursor unchanged.", { field: "cursor" });
  return { createdAt: m[1], id: m[2] };
}
