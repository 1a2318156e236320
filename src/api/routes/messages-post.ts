// POST /v1/messages: the HTTP door. It only translates JSON into a Submission (composing
// structured messages first) and hands it to accept().
import { createRoute, z } from "@hono/zod-openapi";
import { type AcceptDeps, accept, hashRequest, MAX_RECIPIENTS, type Submission } from "../../accept/accept.ts";
import { checkEmail, type Mailbox, parseMailbox } from "../../accept/addresses.ts";
import { compose } from "../../accept/compose.ts";
import { checkLineEndings, normaliseLineEndings } from "../../accept/raw-message.ts";
import type { Accepted } from "../../accept/store.ts";
import { now } from "../../clock.ts";
import { AppError } from "../../errors.ts";
import { uuidv7 } from "../../util/ids.ts";
import { type ApiEnv, router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { MailboxSchema, MetadataSchema } from "../schemas.ts";

// maxItems only documented, not validated: the handler counts to+cc+bcc together and
// answers too_many_recipients rather than a generic validation error.
const Addresses = z.union([MailboxSchema, z.array(MailboxSchema).openapi({ maxItems: MAX_RECIPIENTS })]);

export const PolicyFields = {
  send_at: z
    .string()
    .max(64)
    .optional()
    .openapi({ description: "RFC 3339 time (with offset) to hold delivery until; at most 30 days ahead.", example: "2026-12-01T09:00:00+09:00" }),
  lifetime: z.number().int().optional().openapi({
    description: "Seconds the message may wait for delivery, from when it becomes deliverable (60-259200; default 1800). Then undelivered recipients expire.",
    example: 1800,
  }),
  retry_interval: z
    .number()
    .int()
    .optional()
    .openapi({ description: "Seconds between attempts after a temporary failure (10-3600; default 60).", example: 60 }),
  priority: z.enum(["high", "normal", "bulk"]).optional().openapi({ description: "high (e.g. evacuation notices) is attempted before normal, bulk after." }),
  quiet_hours: z
    .strictObject({
      start: z.string().openapi({ example: "22:00" }),
      end: z.string().openapi({ example: "07:00" }),
      time_zone: z.string().openapi({ example: "Asia/Tokyo" }),
    })
    .optional()
    .openapi({ description: "A daily window in which no attempt starts." }),
  tags: z
    .array(z.string().max(64))
    .max(10)
    .optional()
    .openapi({ description: "Up to 10 tags, searchable in the log.", example: ["otp"] }),
};

export const SendMessageBody = z
  .strictObject({
    from: MailboxSchema.optional().openapi({ description: "The From header. Required unless `raw` is given." }),
    to: Addresses.optional(),
    cc: Addresses.optional(),
    bcc: Addresses.optional().openapi({ description: "Receive the message; never appear in its headers." }),
    reply_to: Addresses.optional(),
    subject: z.string().max(998).optional(),
    text: z.string().optional(),
    html: z.string().optional(),
    headers: z
      .record(z.string(), z.string())
      .optional()
      .openapi({ description: "Extra header fields, e.g. List-Unsubscribe.", example: { "X-Order": "1234" } }),
    attachments: z
      .array(
        z.strictObject({
          filename: z.string().max(255),
          content: z.string().openapi({ description: "Base64-encoded bytes." }),
          content_type: z.string().max(255).optional().openapi({ example: "application/pdf" }),
          content_id: z.string().max(255).optional().openapi({ description: "For inline images referenced as cid: in html." }),
        }),
      )
      .max(100)
      .optional(),
    return_path: z
      .string()
      .max(320)
      .optional()
      .openapi({ description: "Envelope sender, where bounces go; defaults to the From address. Must be your own domain.", example: "bounces@shop.example" }),
    metadata: MetadataSchema.optional(),
    raw: z
      .string()
      .optional()
      .openapi({ description: "A complete RFC 5322 message, sent as given (extended X-Hikyaku-* headers honoured and removed). Requires `envelope`." }),
    envelope: z.strictObject({ from: z.string().max(320), to: z.array(z.string().max(320)).min(1).openapi({ maxItems: MAX_RECIPIENTS }) }).optional(),
    ...PolicyFields,
  })
  .openapi("SendMessage");

export const AcceptedSchema = z
  .object({
    id: z.string().openapi({ description: "Hikyaku's message id: use it to look up, reschedule or cancel.", example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }),
    message_id: z.string().openapi({ description: "The Message-ID header, without angle brackets." }),
    state: z.enum(["queued", "scheduled"]),
    send_at: z.string().nullable(),
    expires_at: z.string().openapi({ description: "When undelivered recipients expire." }),
    recipients: z.array(
      z.object({
        email: z.string(),
        state: z.enum(["queued", "scheduled", "suppressed"]).openapi({
          description:
            "suppressed: the address is on the account's suppression list; it ends at once with a `suppressed` log event and no attempt, and the other recipients go on.",
        }),
      }),
    ),
  })
  .openapi("AcceptedMessage");

export const IdempotencyKeyHeader = z.string().min(1).max(255).optional().openapi({
  description:
    "Any unique string per request. The same key and body within 24 hours answers with the first answer; the same key with another body answers 409.",
  example: "order-1234",
});

export const SEND_EXAMPLE = {
  from: "Shop <orders@shop.example>",
  to: "customer@example.com",
  subject: "Your order 1234",
  text: "Thank you for your order.",
  tags: ["order"],
  priority: "normal",
};

export const ACCEPTED_EXAMPLE = {
  id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e",
  message_id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e@hikyaku.example",
  state: "queued",
  send_at: null,
  expires_at: "2026-11-27T09:30:00.000Z",
  recipients: [{ email: "customer@example.com", state: "queued" }],
};

const route = createRoute({
  method: "post",
  path: "/v1/messages",
  operationId: "sendMessage",
  tags: ["Messages"],
  summary: "Send a message",
  description:
    "Accepts a message for delivery: structured fields (Hikyaku composes the MIME) or `raw` with an `envelope`. The answer comes only after the message is committed. Send an `Idempotency-Key` header to make retries safe: the same key and body within 24 hours returns the first answer.",
  security: bearerAuth,
  request: {
    headers: z.object({ "idempotency-key": IdempotencyKeyHeader }),
    body: {
      required: true,
      content: {
        "application/json": {
          schema: SendMessageBody,
          examples: {
            structured: { summary: "A composed message", value: SEND_EXAMPLE },
            scheduled: {
              summary: "Scheduled, high priority, with quiet hours",
              value: {
                from: "alerts@city.example",
                to: ["resident@example.com"],
                subject: "Evacuation drill",
                text: "The drill starts at 10:00.",
                send_at: "2026-12-01T09:00:00+09:00",
                priority: "high",
                quiet_hours: { start: "22:00", end: "07:00", time_zone: "Asia/Tokyo" },
              },
            },
            raw: {
              summary: "A complete RFC 5322 message",
              value: {
                raw: "From: orders@shop.example\r\nTo: customer@example.com\r\nSubject: Hello\r\n\r\nHello.\r\n",
                envelope: { from: "bounces@shop.example", to: ["customer@example.com"] },
              },
            },
          },
        },
      },
    },
  },
  responses: {
    202: { description: "Accepted and committed.", content: { "application/json": { schema: AcceptedSchema, example: ACCEPTED_EXAMPLE } } },
    ...errorResponses(400, 401, 409, 413, 422),
  },
});

export type Body = z.infer<typeof SendMessageBody>;

const list = (v: Body["to"]): (string | Mailbox)[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const mailboxes = (v: Body["to"], field: string) => list(v).map((m, i) => parseMailbox(m, Array.isArray(v) ? `${field}[${i}]` : field));

export const messagesPost = router().openapi(route, async (c) => {
  const body = c.req.valid("json");
  const key = c.req.valid("header")["idempotency-key"];
  const accepted = await acceptJson(c.get("deps"), { accountId: c.get("account").id, sourceIp: clientIp(c.env), body, idempotencyKey: key });
  return c.json(accepted, 202);
});

/** One JSON message into accept(): what POST /v1/messages and each item of a batch do. */
export async function acceptJson(deps: AcceptDeps, m: { accountId: string; sourceIp: string | null; body: Body; idempotencyKey?: string }): Promise<Accepted> {
  const { body, idempotencyKey: key } = m;
  const sub = body.raw !== undefined ? fromRaw(body) : await fromStructured(body, deps.config.HIKYAKU_HOSTNAME);
  return accept(deps, {
    ...sub,
    accountId: m.accountId,
    channel: "http",
    sourceIp: m.sourceIp,
    policy: {
      send_at: body.send_at,
      lifetime: body.lifetime,
      retry_interval: body.retry_interval,
      priority: body.priority,
      quiet_hours: body.quiet_hours,
      tags: body.tags,
    },
    metadata: body.metadata ?? null,
    ...(key ? { idempotency: { key, requestHash: hashRequest(body) } } : {}),
  });
}

type Partial = Pick<Submission, "envelopeFrom" | "envelopeFromField" | "recipients" | "raw" | "messageIdHeader">;

function fromRaw(body: Body): Partial {
  const structured = (["from", "to", "cc", "bcc", "reply_to", "subject", "text", "html", "headers", "attachments", "return_path"] as const).find(
    (k) => body[k] !== undefined,
  );
  if (structured)
    throw new AppError("validation_error", `${structured} cannot be combined with raw: put it in the raw message or the envelope.`, { field: structured });
  if (!body.envelope) throw new AppError("validation_error", "envelope {from, to} is required with raw.", { field: "envelope" });
  const { from, to } = body.envelope;
  checkRecipientCount(to.length, "envelope.to");
  const raw = normaliseLineEndings(Buffer.from(body.raw ?? "", "utf8"));
  checkLineEndings(raw, "raw");
  return {
    // Checked here too so that a refusal names envelope.from / envelope.to[i].
    envelopeFrom: checkEmail(from, "envelope.from"),
    envelopeFromField: "envelope.from",
    recipients: to.map((r, i) => checkEmail(r, `envelope.to[${i}]`)),
    raw,
  };
}

async function fromStructured(body: Body, hostname: string): Promise<Partial> {
  if (body.envelope) throw new AppError("validation_error", "envelope goes only with raw; use to, cc, bcc and return_path.", { field: "envelope" });
  if (body.from === undefined) throw new AppError("validation_error", "from is required.", { field: "from" });
  const from = parseMailbox(body.from, "from");
  checkRecipientCount(list(body.to).length + list(body.cc).length + list(body.bcc).length, "to");
  const to = mailboxes(body.to, "to");
  const cc = mailboxes(body.cc, "cc");
  const bcc = mailboxes(body.bcc, "bcc");
  if (to.length + cc.length + bcc.length === 0)
    throw new AppError("validation_error", "to is required: give at least one recipient in to, cc or bcc.", { field: "to" });
  const messageIdHeader = `${uuidv7()}@${hostname}`;
  const raw = await compose({
    from,
    to,
    cc,
    replyTo: mailboxes(body.reply_to, "reply_to"),
    subject: body.subject,
    text: body.text,
    html: body.html,
    headers: body.headers,
    attachments: body.attachments,
    messageId: messageIdHeader,
    date: now(),
  });
  return {
    envelopeFrom: body.return_path ?? from.email,
    envelopeFromField: body.return_path === undefined ? "from" : "return_path",
    recipients: [...to, ...cc, ...bcc].map((m) => m.email),
    raw,
    messageIdHeader,
  };
}

/** Before parsing thousands of addresses: accept() counts again after removing duplicates. */
function checkRecipientCount(n: number, field: string): void {
  if (n > MAX_RECIPIENTS) {
    throw new AppError("too_many_recipients", `The message has ${n} recipients; at most ${MAX_RECIPIENTS} are allowed per message.`, { field });
  }
}

export function clientIp(env: unknown): string | null {
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  const ip = incoming?.socket?.remoteAddress ?? null;
  return ip?.replace(/^::ffff:(?=\d+\.)/, "") ?? null;
}

export type { ApiEnv };
