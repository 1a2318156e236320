// Log rows written straight into the tables, for tests that need many kinds of events
// quickly. The columns are the ones record.ts and store.ts write.
import { randomUUID } from "node:crypto";
import { now } from "../src/clock.ts";
import type { Sql } from "../src/db/client.ts";

export interface DeliveryRow {
  accountId: string;
  event?: string;
  messageId?: string;
  recipient?: string;
  envelopeSender?: string;
  sourceIp?: string | null;
  channel?: string;
  code?: number;
  enhancedCode?: string | null;
  response?: string;
  codeSource?: string;
  tags?: string[];
  at?: Date;
}

export async function insertDelivery(sql: Sql, r: DeliveryRow): Promise<number> {
  const [row] = await sql<{ id: number }[]>`
    insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender, source_ip,
      channel, attempt, mx_host, mx_ip, tls, code, enhanced_code, response, code_source, tags)
    values (${r.accountId}, ${r.at ?? now()}, ${r.event ?? "delivered"}, ${r.messageId ?? randomUUID()},
      ${r.recipient ?? "someone@example.jp"}, ${r.envelopeSender ?? "bounces@shop.test"}, ${r.sourceIp ?? null},
      ${r.channel ?? "http"}, 1, 'mx.example.jp', '192.0.2.25', true, ${r.code ?? 250}, ${r.enhancedCode ?? "2.0.0"},
      ${r.response ?? "250 2.0.0 OK"}, ${r.codeSource ?? "destination"}, ${r.tags ?? []}::text[])
    returning id`;
  return row?.id ?? 0;
}

export interface ReceptionRow {
  accountId: string;
  accepted?: boolean;
  channel?: string;
  sourceIp?: string | null;
  envelopeSender?: string | null;
  messageId?: string | null;
  code?: number;
  reason?: string;
  at?: Date;
}

export async function insertReception(sql: Sql, r: ReceptionRow): Promise<number> {
  const accepted = r.accepted ?? true;
  const [row] = await sql<{ id: number }[]>`
    insert into reception_events (account_id, created_at, channel, source_ip, envelope_sender, recipient_count,
      accepted, code, enhanced_code, reason, message_id)
    values (${r.accountId}, ${r.at ?? now()}, ${r.channel ?? "smtp"}, ${r.sourceIp ?? null},
      ${r.envelopeSender === undefined ? "bounces@shop.test" : r.envelopeSender}, 1, ${accepted},
      ${r.code ?? (accepted ? 250 : 554)}, ${accepted ? "2.0.0" : "5.7.1"}, ${r.reason ?? (accepted ? "accepted" : "relay denied")},
      ${r.messageId === undefined ? (accepted ? randomUUID() : null) : r.messageId})
    returning id`;
  return row?.id ?? 0;
}
