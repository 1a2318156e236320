// Turns the log API's query string into a LogFilter, refusing with a sentence that names
// the field. Addresses are normalised the way intake stores them (domain lower-cased,
// in punycode), so a filter finds what was logged.
import { isIP } from "node:net";
import { normaliseDomain } from "../accept/addresses.ts";
import { AppError } from "../errors.ts";
import { isUuid } from "../util/ids.ts";
import { DELIVERY_EVENTS, type LogFilter, type LogType, RECEPTION_EVENTS } from "./filter.ts";

export interface LogQuery {
  type: LogType;
  since?: string;
  until?: string;
  event?: string;
  recipient?: string;
  envelope_sender?: string;
  source_ip?: string;
  channel?: "http" | "smtp";
  message_id?: string;
  tag?: string;
}

export function parseLogQuery(accountId: string, q: LogQuery): LogFilter {
  if (q.type === "reception") {
    if (q.recipient !== undefined)
      throw invalid("recipient", "reception events count recipients but do not list them; filter delivery events by recipient instead.");
    if (q.tag !== undefined) throw invalid("tag", "reception events carry no tags; filter delivery events by tag instead.");
  }
  if (q.message_id !== undefined && !isUuid(q.message_id)) throw invalid("message_id", "message_id must be a message id as returned by POST /v1/messages.");
  if (q.source_ip !== undefined && isIP(q.source_ip) === 0) throw invalid("source_ip", `source_ip "${q.source_ip}" is not an IPv4 or IPv6 address.`);
  const recipient = q.recipient?.trim();
  const byDomain = recipient?.startsWith("@");
  return {
    accountId,
    type: q.type,
    since: parseTime(q.since, "since"),
    until: parseTime(q.until, "until"),
    events: parseEvents(q.type, q.event),
    recipient: recipient && !byDomain ? normaliseAddress(recipient, "recipient") : undefined,
    recipientDomain: recipient && byDomain ? domain(recipient.slice(1), "recipient") : undefined,
    envelopeSender: q.envelope_sender === undefined ? undefined : normaliseAddress(q.envelope_sender.trim(), "envelope_sender", true),
    sourceIp: q.source_ip?.toLowerCase(),
    channel: q.channel,
    messageId: q.message_id?.toLowerCase(),
    tag: q.tag,
  };
}

function parseEvents(type: LogType, text: string | undefined): string[] | undefined {
  const allowed: readonly string[] = type === "delivery" ? DELIVERY_EVENTS : RECEPTION_EVENTS;
  const events = text
    ?.split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  const bad = events?.find((e) => !allowed.includes(e));
  if (bad) throw invalid("event", `event "${bad}" is not one of ${allowed.join(", ")} (the ${type} log's events).`);
  return events?.length ? events : undefined;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;

function parseTime(v: string | undefined, field: string): Date | undefined {
  if (v === undefined) return undefined;
  const t = RFC3339.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(t)) throw invalid(field, `${field} must be an RFC 3339 time like 2026-11-27T00:00:00Z (or a date, meaning its start in UTC).`);
  return new Date(t);
}

function normaliseAddress(text: string, field: string, emptyAllowed = false): string {
  if (text === "" && emptyAllowed) return ""; // the empty envelope sender of bounces
  const at = text.lastIndexOf("@");
  if (at <= 0) throw invalid(field, `${field} must be an address like a@example.com${field === "recipient" ? ", or @example.com for a whole domain" : ""}.`);
  return `${text.slice(0, at)}@${domain(text.slice(at + 1), field)}`;
}

function domain(text: string, field: string): string {
  const ascii = normaliseDomain(text);
  if (!ascii) throw invalid(field, `${field}: "${text.slice(0, 80)}" is not a valid domain name.`);
  return ascii;
}

const invalid = (field: string, message: string) => new AppError("validation_error", message, { field });
