// Turns a log row into the event the API shows (JSON and CSV alike): times in RFC 3339,
// Hikyaku's own codes named, the paging key left out.
import type { Row } from "postgres";
import type { LogType } from "./filter.ts";

export const DELIVERY_FIELDS = [
  "id",
  "time",
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
  "service_code",
  "tags",
] as const;

export const RECEPTION_FIELDS = [
  "id",
  "time",
  "event",
  "channel",
  "source_ip",
  "envelope_sender",
  "recipient_count",
  "accepted",
  "code",
  "enhanced_code",
  "reason",
  "message_id",
] as const;

export type ApiEvent = Record<string, unknown>;

export function formatEvent(type: LogType, r: Row): ApiEvent {
  return type === "delivery" ? formatDelivery(r) : formatReception(r);
}

function formatDelivery(r: Row): ApiEvent {
  return {
    id: r.id,
    time: (r.created_at as Date).toISOString(),
    event: r.event,
    message_id: r.message_id,
    recipient: r.recipient,
    envelope_sender: r.envelope_sender,
    source_ip: r.source_ip,
    channel: r.channel,
    attempt: r.attempt,
    mx_host: r.mx_host,
    mx_ip: r.mx_ip,
    tls: r.tls,
    tls_fallback: r.tls_fallback ?? null,
    tls_detail: r.tls_detail ?? null,
    code: r.code,
    enhanced_code: r.enhanced_code,
    response: r.response,
    code_source: r.code_source,
    service_code: r.code_source === "hikyaku" ? serviceCodeOf(r.response as string) : null,
    tags: r.tags,
  };
}

function formatReception(r: Row): ApiEvent {
  return {
    id: r.id,
    time: (r.created_at as Date).toISOString(),
    event: r.accepted ? "accepted" : "refused",
    channel: r.channel,
    source_ip: r.source_ip,
    envelope_sender: r.envelope_sender,
    recipient_count: r.recipient_count,
    accepted: r.accepted,
    code: r.code,
    enhanced_code: r.enhanced_code,
    reason: r.reason,
    message_id: r.message_id,
  };
}

/** Hikyaku's replies end in `(hikyaku: <name>)`; see src/delivery/service-codes.ts. */
function serviceCodeOf(response: string): string | null {
  return /\(hikyaku: ([a-z_]+)\)$/.exec(response)?.[1] ?? null;
}
