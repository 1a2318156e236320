// The columns a log row is read with (see format-event.ts), and the table of each log.
import type { Sql } from "../db/client.ts";
import type { Query } from "./conditions.ts";
import type { LogFilter } from "./filter.ts";

const DELIVERY = [
  "id",
  "tx",
  "created_at",
  "event",
  "message_id",
  "recipient",
  "envelope_sender",
  "source_ip",
  "channel",
  "attempt",
  "mx_host",
  "mx_ip",
  "tls",
  "tls_fallback",
  "tls_detail",
  "code",
  "enhanced_code",
  "response",
  "code_source",
  "tags",
];
const RECEPTION = [
  "id",
  "tx",
  "created_at",
  "accepted",
  "channel",
  "source_ip",
  "envelope_sender",
  "recipient_count",
  "code",
  "enhanced_code",
  "reason",
  "message_id",
];

export function columns(sql: Sql, f: LogFilter, alias?: string): Query {
  const names = f.type === "delivery" ? DELIVERY : RECEPTION;
  return sql`${sql(alias ? names.map((n) => `${alias}.${n}`) : names)}`;
}

export const logTable = (sql: Sql, f: LogFilter) => sql(f.type === "delivery" ? "delivery_events" : "reception_events");
