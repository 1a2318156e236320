// GET /v1/messages: the account's messages, newest first, filtered and paged with a cursor.
// Each row is a summary; GET /v1/messages/{id} has every recipient.
import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../../errors.ts";
import { PRIORITY } from "../../messages/get-message.ts";
import { listMessages, MESSAGE_STATES } from "../../messages/list-messages.ts";
import { router } from "../context.ts";
import { bearerAuth, CursorParam, errorResponses, limitParam, page } from "../openapi-parts.ts";

const MessageSummarySchema = z
  .object({
    id: z.string().openapi({ example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }),
    message_id: z.string().openapi({ description: "The Message-ID header, without angle brackets." }),
    state: z.enum(MESSAGE_STATES).openapi({ description: "completed: every recipient is final (see GET /v1/messages/{id})." }),
    channel: z.enum(["http", "smtp", "dsn"]).openapi({ description: "The intake door; dsn: a bounce notice Hikyaku sent about one of your messages." }),
    envelope_from: z.string(),
    priority: z.enum(["high", "normal", "bulk"]),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    recipient_count: z.number().int(),
    created_at: z.string(),
    send_at: z.string().nullable(),
    expires_at: z.string(),
    cancelled_at: z.string().nullable(),
  })
  .openapi("MessageSummary");

const time = (description: string, example: string) => z.string().max(64).optional().openapi({ description, example });

const route = createRoute({
  method: "get",
  path: "/v1/messages",
  operationId: "listMessages",
  tags: ["Messages"],
  summary: "List messages",
  description:
    "The account's messages from both doors, newest first (by acceptance time), one page at a time. Filters combine with AND. Messages stay listed while their log events are kept.",
  security: bearerAuth,
  request: {
    query: z.strictObject({
      state: z.enum(MESSAGE_STATES).optional().openapi({ description: "Only messages in this state.", example: "scheduled" }),
      tag: z.string().max(64).optional().openapi({ description: "Only messages carrying this tag.", example: "evacuation" }),
      channel: z.enum(["http", "smtp", "dsn"]).optional().openapi({ description: "Only messages that came in through this door." }),
      since: time("Accepted at or after this time (RFC 3339).", "2026-11-27T00:00:00Z"),
      until: time("Accepted before this time (RFC 3339).", "2026-11-28T00:00:00Z"),
      limit: limitParam(100, 50),
      cursor: CursorParam,
    }),
  },
  responses: {
    200: {
      description: "A page of messages, newest first.",
      content: {
        "application/json": {
          schema: page(MessageSummarySchema, "MessageList"),
          example: {
            data: [
              {
                id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e",
                message_id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e@hikyaku.example",
                state: "scheduled",
                channel: "http",
                envelope_from: "alerts@city.example",
                priority: "high",
                tags: ["drill"],
                metadata: null,
                recipient_count: 1,
                created_at: "2026-11-27T09:00:00.000Z",
                send_at: "2026-12-01T00:00:00.000Z",
                expires_at: "2026-12-01T00:30:00.000Z",
                cancelled_at: null,
              },
            ],
            next_cursor: null,
          },
        },
      },
    },
    ...errorResponses(401, 422),
  },
});

function parseTime(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const t = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/i.test(value) ? new Date(value) : undefined;
  if (!t || Number.isNaN(t.getTime()))
    throw new AppError("validation_error", `${field} must be an RFC 3339 time such as 2026-11-27T09:00:00+09:00.`, { field });
  return t;
}

export const messagesList = router().openapi(route, async (c) => {
  const q = c.req.valid("query");
  const filter = {
    accountId: c.get("account").id,
    state: q.state,
    tag: q.tag,
    channel: q.channel,
    since: parseTime(q.since, "since"),
    until: parseTime(q.until, "until"),
  };
  const { rows, nextCursor } = await listMessages(c.get("deps").db, filter, q.limit, q.cursor);
  const iso = (t: Date | null) => (t ? t.toISOString() : null);
  const data = rows.map((m) => ({
    id: m.id,
    message_id: m.message_id_header,
    state: m.state,
    channel: m.channel,
    envelope_from: m.envelope_from,
    priority: PRIORITY[m.priority] ?? "normal",
    tags: m.tags,
    metadata: m.metadata ?? null,
    recipient_count: m.recipient_count,
    created_at: m.created_at.toISOString(),
    send_at: m.deliverable_at > m.created_at ? m.deliverable_at.toISOString() : null,
    expires_at: m.expires_at.toISOString(),
    cancelled_at: iso(m.cancelled_at),
  }));
  return c.json({ data, next_cursor: nextCursor }, 200);
});
