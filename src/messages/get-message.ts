// A message's state and each recipient's, scoped to the account, as GET /v1/messages/{id}
// shows it (and the console). Unknown and another account's message alike are undefined.
import type { Db } from "../db/client.ts";
import { isUuid } from "../util/ids.ts";

export type RecipientState = "scheduled" | "queued" | "sending" | "deferred" | "delivered" | "bounced" | "expired" | "cancelled" | "suppressed";

export interface MessageView {
  id: string;
  message_id: string;
  state: "scheduled" | "queued" | "sending" | "deferred" | "completed";
  channel: "http" | "smtp" | "dsn";
  cancelled_at: string | null;
  envelope_from: string;
  priority: "high" | "normal" | "bulk";
  tags: string[];
  metadata: Record<string, unknown> | null;
  created_at: string;
  send_at: string | null;
  expires_at: string;
  recipients: {
    email: string;
    state: RecipientState;
    attempts: number;
    last_code: number | null;
    last_enhanced_code: string | null;
    last_response: string | null;
    updated_at: string;
  }[];
}

export const PRIORITY: Record<number, "high" | "normal" | "bulk"> = { [-10]: "high", 0: "normal", 10: "bulk" };

export async function getMessage(db: Db, accountId: string, id: string): Promise<MessageView | undefined> {
  if (!isUuid(id)) return undefined;
  const [m] = await db.sql`
    select id, message_id_header, channel, envelope_from, priority, tags, metadata, created_at, deliverable_at, expires_at, pending, cancelled_at
    from messages where id = ${id} and account_id = ${accountId}`;
  if (!m) return undefined;
  const rcpts = await db.sql`
    select address, state, attempts, last_code, last_enhanced_code, last_response, updated_at
    from recipients where message_id = ${id} order by id`;
  const states = new Set(rcpts.map((r) => r.state as string));
  const state = m.pending === 0 ? "completed" : ((["sending", "deferred", "queued", "scheduled"] as const).find((s) => states.has(s)) ?? "queued");
  return {
    id: m.id as string,
    message_id: m.message_id_header as string,
    state,
    channel: m.channel as "http" | "smtp" | "dsn",
    cancelled_at: m.cancelled_at ? (m.cancelled_at as Date).toISOString() : null,
    envelope_from: m.envelope_from as string,
    priority: PRIORITY[m.priority as number] ?? "normal",
    tags: m.tags as string[],
    metadata: (m.metadata as Record<string, unknown> | null) ?? null,
    created_at: (m.created_at as Date).toISOString(),
    send_at: m.deliverable_at > m.created_at ? (m.deliverable_at as Date).toISOString() : null,
    expires_at: (m.expires_at as Date).toISOString(),
    recipients: rcpts.map((r) => ({
      email: r.address as string,
      state: r.state as RecipientState,
      attempts: r.attempts as number,
      last_code: (r.last_code as number | null) ?? null,
      last_enhanced_code: (r.last_enhanced_code as string | null) ?? null,
      last_response: (r.last_response as string | null) ?? null,
      updated_at: (r.updated_at as Date).toISOString(),
    })),
  };
}
