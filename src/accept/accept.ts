// The one intake. The HTTP route and the SMTP server only translate their input into a
// Submission and call accept(); validation, extended headers, identity headers and
// storage happen here and nowhere else.
import { createHash } from "node:crypto";
import { now } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { signMessage } from "../domains/sign-message.ts";
import { AppError } from "../errors.ts";
import { uuidv7 } from "../util/ids.ts";
import { checkEmail, domainOf } from "./addresses.ts";
import { type PolicyInput, policyFromHeaders, resolvePolicy } from "./policy.ts";
import { type HeaderField, makeField, parseRaw, wireProblem } from "./raw-message.ts";
import { checkDomainOwners, checkEnvelopeSender, fromDomains } from "./sender-rules.ts";
import { type Accepted, storeMessage } from "./store.ts";

export const MAX_RECIPIENTS = 1000;

export interface Submission {
  accountId: string;
  channel: "http" | "smtp" | "dsn";
  sourceIp: string | null;
  /** Envelope sender; "" only for the service's own bounces. */
  envelopeFrom: string;
  /** The request field that gave envelopeFrom, named in refusals (default return_path). */
  envelopeFromField?: string;
  /** Set only by the service itself for its bounces: they alone may have an empty envelope sender. */
  internal?: boolean;
  recipients: string[];
  /** A complete RFC 5322 message with CRLF line endings. */
  raw: Buffer;
  /** Policy given as JSON fields (HTTP); extended headers in `raw` fill the rest. */
  policy?: PolicyInput;
  metadata?: Record<string, unknown> | null;
  /** Set when this Message-ID was already chosen (composed messages). */
  messageIdHeader?: string;
  idempotency?: { key: string; requestHash: string };
}

export interface AcceptDeps {
  db: Db;
  config: Config;
}

export async function accept(deps: AcceptDeps, sub: Submission): Promise<Accepted> {
  const envelope = checkEnvelope(sub);
  const parsed = parseRaw(sub.raw);
  const ext = policyFromHeaders(parsed.headers);
  const policy = resolvePolicy(sub.policy ?? {}, ext.input, ext.names, deps.config);
  const { headers, messageIdHeader } = identityHeaders(ext.rest, deps.config, sub.messageIdHeader);
  await checkOwnership(deps, sub, envelope.from, headers);
  const raw = await signMessage(deps, sub.accountId, headers, parsed.body);
  checkSize(raw, deps.config);
  assertWireForm(raw, sub.channel);
  return storeMessage(deps.db, { sub, envelope, policy, raw, messageIdHeader, at: now() });
}

function checkEnvelope(sub: Submission): { from: string; recipients: string[] } {
  const field = sub.envelopeFromField ?? "return_path";
  const from = sub.envelopeFrom === "" ? "" : checkEmail(sub.envelopeFrom, field);
  checkEnvelopeSender(from, { field, internal: sub.internal === true });
  if (sub.recipients.length === 0)
    throw new AppError("validation_error", "The message has no recipients: give at least one in to, cc or bcc.", { field: "to" });
  const seen = new Set<string>();
  const recipients: string[] = [];
  for (const r of sub.recipients) {
    const email = checkEmail(r, "recipient");
    const key = email.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    recipients.push(email);
  }
  if (recipients.length > MAX_RECIPIENTS) {
    throw new AppError("too_many_recipients", `The message has ${recipients.length} recipients; at most ${MAX_RECIPIENTS} are allowed per message.`, {
      field: "to",
    });
  }
  return { from, recipients };
}

/** Neither the From domains nor the envelope sender's may be another account's verified domain. */
async function checkOwnership(deps: AcceptDeps, sub: Submission, envelopeFrom: string, headers: HeaderField[]): Promise<void> {
  if (sub.internal) return; // the service's own bounces, From its own hostname
  const fromField = sub.channel === "smtp" ? "From" : "from";
  const senders = fromDomains(headers).map((domain) => ({ domain, what: "The From address", field: fromField }));
  if (envelopeFrom) senders.push({ domain: domainOf(envelopeFrom), what: "The envelope sender", field: sub.envelopeFromField ?? "return_path" });
  await checkDomainOwners(deps.db, sub.accountId, senders);
}

/** Adds Message-ID and Date when missing, and removes Bcc: recipients come from the envelope only. */
function identityHeaders(fields: HeaderField[], config: Config, chosenId?: string): { headers: HeaderField[]; messageIdHeader: string } {
  const headers = fields.filter((h) => h.lower !== "bcc");
  if (!headers.some((h) => h.lower === "from")) throw new AppError("validation_error", "The message has no From header.", { field: "raw" });
  const idField = headers.find((h) => h.lower === "message-id");
  let messageIdHeader = chosenId ?? /<([^<>\s]+)>/.exec(idField?.raw ?? "")?.[1];
  if (idField && !messageIdHeader) {
    throw new AppError("validation_error", "The Message-ID header must look like <unique-id@your-domain>; or leave it out and Hikyaku adds one.", {
      field: "Message-ID",
    });
  }
  if (!idField || !messageIdHeader) {
    messageIdHeader = `${uuidv7()}@${config.HIKYAKU_HOSTNAME}`;
    headers.splice(traceEnd(headers), 0, makeField("Message-ID", `<${messageIdHeader}>`));
  }
  if (!headers.some((h) => h.lower === "date")) headers.splice(traceEnd(headers), 0, makeField("Date", now().toUTCString().replace("GMT", "+0000")));
  return { headers, messageIdHeader };
}

/** Trace fields (Received, Return-Path) stay on top (RFC 5321 §4.4): added fields go below them. */
function traceEnd(headers: HeaderField[]): number {
  const i = headers.findIndex((h) => h.lower !== "received" && h.lower !== "return-path");
  return i === -1 ? headers.length : i;
}

function checkSize(raw: Buffer, config: Config): void {
  if (raw.length > config.HIKYAKU_MAX_MESSAGE_BYTES) {
    throw new AppError("message_too_large", `The message is ${raw.length} bytes; the limit is ${config.HIKYAKU_MAX_MESSAGE_BYTES} bytes.`, { field: "raw" });
  }
}

/**
 * What is stored is what goes on the wire and what was signed. Every door hands over
 * CRLF-only lines of at most 998 octets (the SMTP and raw doors refuse anything else with
 * a sentence); a message that is not, here, is a bug in a door, never rewritten quietly.
 */
function assertWireForm(raw: Buffer, channel: Submission["channel"]): void {
  const problem = wireProblem(raw, { finalCrlf: true });
  if (problem) throw new AppError("internal", `The ${channel} door built a message with ${problem}; nothing was stored. This is a bug in Hikyaku.`);
}

export function hashRequest(parts: unknown): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}
