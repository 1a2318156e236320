// GET /v1/logs: the proof of what happened to every recipient (delivery events), and
// of every intake attempt (type=reception).
import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../../errors.ts";
import { DELIVERY_EVENTS, queryLogs } from "../../logs/query.ts";
import { isUuid } from "../../util/ids.ts";
import { router } from "../context.ts";
import { cursorQuery, errorResponses } from "../schemas.ts";

export const DeliveryEventSchema = z
  .object({
    id: z.number().int(),
    time: z.string(),
    event: z.enum(DELIVERY_EVENTS),
    message_id: z.string(),
    recipient: z.string(),
    envelope_sender: z.string(),
    source_ip: z.string().nullable(),
    channel: z.enum(["http", "smtp"]),
    attempt: z.number().int().openapi({ description: "Attempt number (0 when no attempt was made)." }),
    mx_host: z.string().nullable(),
    mx_ip: z.string().nullable(),
    tls: z.boolean().nullable().openapi({ description: "Whether the session to the destination used TLS (null: no session)." }),
    code: z.number().int().openapi({ example: 250 }),
    enhanced_code: z.string().nullable().openapi({ example: "2.0.0" }),
    response: z.string().openapi({ description: "The destination's own words, or Hikyaku's service reply.", example: "550 5.1.1 user unknown" }),
    code_source: z.enum(["destination", "hikyaku"]).openapi({ description: "hikyaku: the code is one of the service's own (see the service code table)." }),
    tags: z.array(z.string()),
  })
  .openapi("DeliveryEvent");

export const ReceptionEventSchema = z
  .object({
    id: z.number().int(),
    time: z.string(),
    channel: z.enum(["http", "smtp"]),
    source_ip: z.string().nullable(),
    envelope_sender: z.string().nullable(),
    recipient_count: z.number().int(),
    accepted: z.boolean(),
    code: z.number().int(),
    enhanced_code: z.string().nullable(),
    reason: z.string(),
    message_id: z.string().nullable(),
  })
  .openapi("ReceptionEvent");

const time = (what: string) =>
  z
    .string()
    .optional()
    .openapi({ description: `${what} (RFC 3339).`, example: "2026-11-27T00:00:00Z" });

const route = createRoute({
  method: "get",
  path: "/v1/logs",
  tags: ["Logs"],
  summary: "Read the delivery or reception log",
  security: [{ bearer: [] }],
  request: {
    query: z.strictObject({
      type: z.enum(["delivery", "reception"]).default("delivery"),
      message_id: z.string().optional(),
      recipient: z.string().max(320).optional(),
      event: z.string().optional().openapi({ description: "One event or a comma list, e.g. bounced,expired." }),
      since: time("Events at or after this time"),
      until: time("Events before this time"),
      ...cursorQuery,
    }),
  },
  responses: {
    200: {
      description: "A page of events, newest first.",
      content: {
        "application/json": {
          schema: z.object({ data: z.array(z.union([DeliveryEventSchema, ReceptionEventSchema])), next_cursor: z.string().nullable() }).openapi("LogPage"),
        },
      },
    },
    ...errorResponses(401, 422),
  },
});

function parseTime(v: string | undefined, field: string): Date | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new AppError("validation_error", `${field} must be an RFC 3339 time like 2026-11-27T00:00:00Z.`, { field });
  return new Date(t);
}

export const logsGet = router().openapi(route, async (c) => {
  const q = c.req.valid("query");
  const events = q.event?.split(",").map((e) => e.trim()).filter(Boolean);
  const bad = events?.find((e) => !(DELIVERY_EVENTS as readonly string[]).includes(e));
  if (bad) throw new AppError("validation_error", `event "${bad}" is not one of ${DELIVERY_EVENTS.join(", ")}.`, { field: "event" });
  if (q.message_id !== undefined && !isUuid(q.message_id)) throw new AppError("validation_error", "message_id must be a message id as returned by POST /v1/messages.", { field: "message_id" });
  const page = await queryLogs(c.get("deps").db, {
    accountId: c.get("account").id,
    type: q.type,
    messageId: q.message_id,
    recipient: q.recipient,
    events,
    since: parseTime(q.since, "since"),
    until: parseTime(q.until, "until"),
    limit: q.limit,
    cursor: q.cursor,
  });
  return c.json({ data: page.rows as never[], next_cursor: page.nextCursor }, 200);
});
