// GET /v1/logs: the proof of what happened to every recipient (delivery events), and
// of every intake attempt (type=reception); as JSON pages, or as one CSV stream
// (`Accept: text/csv`, or GET /v1/logs.csv) for cleaning a mailing list.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { serviceCodeTableMarkdown } from "../../delivery/service-codes.ts";
import { logCsv } from "../../logs/csv.ts";
import type { LogFilter } from "../../logs/filter.ts";
import { parseLogQuery } from "../../logs/parse-query.ts";
import { DELIVERY_EVENTS, queryLogs, RECEPTION_EVENTS } from "../../logs/query.ts";
import { type ApiEnv, router } from "../context.ts";
import { bearerAuth, CursorParam, errorResponses, page } from "../openapi-parts.ts";

export const DeliveryEventSchema = z
  .object({
    id: z.number().int(),
    time: z.string().openapi({ description: "When it happened (RFC 3339).", example: "2026-11-27T09:00:01.234Z" }),
    event: z.enum(DELIVERY_EVENTS),
    message_id: z.string(),
    recipient: z.string().openapi({ example: "taro@example.jp" }),
    envelope_sender: z.string().openapi({ description: "The envelope sender (return path); empty for bounces.", example: "bounces@city.example.jp" }),
    source_ip: z.string().nullable().openapi({ description: "Where the message came from." }),
    channel: z.enum(["http", "smtp"]).openapi({ description: "The intake door." }),
    attempt: z.number().int().openapi({ description: "Attempt number (0 when no attempt was made)." }),
    mx_host: z.string().nullable().openapi({ example: "mx1.example.jp" }),
    mx_ip: z.string().nullable().openapi({ example: "203.0.113.25" }),
    tls: z.boolean().nullable().openapi({ description: "Whether the session to the destination used TLS (null: no session)." }),
    tls_fallback: z.boolean().nullable().openapi({
      description:
        "The destination offered STARTTLS but the TLS handshake failed, so the session went on in plain text (opportunistic TLS only; null: no session).",
      example: false,
    }),
    tls_detail: z.string().nullable().openapi({
      description:
        "Why the session's TLS is what it is, when that needs saying: the handshake error behind a fallback, or what the domain's MTA-STS `testing` policy would have refused under `enforce` (RFC 8461).",
      example: null,
    }),
    code: z.number().int().openapi({ example: 250 }),
    enhanced_code: z.string().nullable().openapi({ example: "2.0.0" }),
    response: z.string().openapi({ description: "The destination's own words, or Hikyaku's service reply.", example: "550 5.1.1 user unknown" }),
    code_source: z.enum(["destination", "hikyaku"]).openapi({ description: "hikyaku: the code is one of the service's own (see the service code table)." }),
    service_code: z.string().nullable().openapi({ description: "For Hikyaku's own codes, the reason word from the service code table.", example: "expired" }),
    tags: z.array(z.string()),
  })
  .openapi("DeliveryEvent");

export const ReceptionEventSchema = z
  .object({
    id: z.number().int(),
    time: z.string().openapi({ description: "When it happened (RFC 3339).", example: "2026-11-27T09:00:00.512Z" }),
    event: z.enum(RECEPTION_EVENTS),
    channel: z.enum(["http", "smtp"]),
    source_ip: z.string().nullable(),
    envelope_sender: z.string().nullable(),
    recipient_count: z.number().int(),
    accepted: z.boolean(),
    code: z.number().int().openapi({ description: "The reply given: SMTP code, or HTTP status for the HTTP door.", example: 250 }),
    enhanced_code: z.string().nullable(),
    reason: z.string(),
    message_id: z.string().nullable(),
  })
  .openapi("ReceptionEvent");

const text = (description: string, example?: string) => z.string().max(320).optional().openapi({ description, example });

const LogQuerySchema = z.strictObject({
  type: z
    .enum(["delivery", "reception"])
    .default("delivery")
    .openapi({ description: "delivery: what happened to each recipient; reception: every intake attempt." }),
  since: text("Events at or after this time (RFC 3339).", "2026-11-27T00:00:00Z"),
  until: text("Events before this time (RFC 3339).", "2026-11-28T00:00:00Z"),
  event: text("One event or a comma list, e.g. `bounced,expired`. Reception events: `accepted`, `refused`.", "bounced,expired"),
  recipient: text("An exact address, or `@domain` for every address at that domain (delivery events).", "@example.jp"),
  envelope_sender: text("The exact envelope sender (return path).", "bounces@city.example.jp"),
  source_ip: text("The IP address the message came from.", "192.0.2.10"),
  channel: z.enum(["http", "smtp"]).optional().openapi({ description: "The intake door." }),
  message_id: text("A message id as returned by POST /v1/messages."),
  tag: z.string().max(100).optional().openapi({ description: "Events of messages carrying this tag (delivery events).", example: "evacuation" }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .openapi({ description: "Page size, 1-1000 (default 100). CSV: every matching event unless set.", example: 100 }),
  cursor: CursorParam,
});

const DESCRIPTION = `Newest first. Events are ordered by when they were recorded, and an event shows up as soon as every write that began before it has finished (normally within milliseconds), so paging with \`next_cursor\` never repeats or skips an event while new ones arrive: new events only ever appear above the first page.

Send \`Accept: text/csv\` (or use GET /v1/logs.csv) for the same query as one CSV file (RFC 4180, header row), e.g. \`event=bounced,expired\` to clean a mailing list.

Every delivery event says where its code came from: \`code_source: destination\` carries the destination server's own words; \`code_source: hikyaku\` is one of Hikyaku's own codes, for outcomes with no reply from a destination:

${serviceCodeTableMarkdown()}`;

const LogPageSchema = page(z.union([DeliveryEventSchema, ReceptionEventSchema]), "LogPage");

const LOG_EXAMPLE = {
  data: [
    {
      id: 4021,
      time: "2026-11-27T09:00:01.234Z",
      event: "bounced",
      message_id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e",
      recipient: "taro@example.jp",
      envelope_sender: "bounces@city.example.jp",
      source_ip: "192.0.2.10",
      channel: "http",
      attempt: 1,
      mx_host: "mx1.example.jp",
      mx_ip: "203.0.113.25",
      tls: true,
      tls_fallback: false,
      tls_detail: null,
      code: 550,
      enhanced_code: "5.1.1",
      response: "550 5.1.1 user unknown",
      code_source: "destination",
      service_code: null,
      tags: ["evacuation"],
    },
  ],
  next_cursor: "djI6MTIzNDU2OjQwMjE",
};

const CSV_EXAMPLE =
  "id,time,event,message_id,recipient,envelope_sender,source_ip,channel,attempt,mx_host,mx_ip,tls,tls_fallback,tls_detail,code,enhanced_code,response,code_source,service_code,tags\r\n4021,2026-11-27T09:00:01.234Z,bounced,01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e,taro@example.jp,bounces@city.example.jp,192.0.2.10,http,1,mx1.example.jp,203.0.113.25,true,false,,550,5.1.1,550 5.1.1 user unknown,destination,,evacuation\r\n";

const csvContent = {
  "text/csv": { schema: z.string().openapi({ description: "RFC 4180 CSV with a header row; columns as the JSON fields." }), example: CSV_EXAMPLE },
};

const jsonRoute = createRoute({
  method: "get",
  path: "/v1/logs",
  operationId: "listLogs",
  tags: ["Logs"],
  summary: "Read the delivery or reception log",
  description: DESCRIPTION,
  security: bearerAuth,
  request: { query: LogQuerySchema },
  responses: {
    200: {
      description: "A page of events, newest first (or, with `Accept: text/csv`, all of them as CSV).",
      content: { "application/json": { schema: LogPageSchema, example: LOG_EXAMPLE }, ...csvContent },
    },
    ...errorResponses(401, 422),
  },
});

const csvRoute = createRoute({
  method: "get",
  path: "/v1/logs.csv",
  operationId: "exportLogsCsv",
  tags: ["Logs"],
  summary: "Export the log as CSV",
  description: "The same query as GET /v1/logs, streamed as one CSV file (RFC 4180, header row, newest first).",
  security: bearerAuth,
  request: { query: LogQuerySchema.omit({ cursor: true }) },
  responses: { 200: { description: "Every matching event.", content: csvContent }, ...errorResponses(401, 422) },
});

export const logsGet = router()
  .openapi(jsonRoute, async (c) => {
    const q = c.req.valid("query");
    const filter = parseLogQuery(c.get("account").id, q);
    if (/\btext\/csv\b/i.test(c.req.header("accept") ?? "")) return csv(c, filter, q.limit) as never;
    const page = await queryLogs(c.get("deps").db, filter, { limit: q.limit ?? 100, cursor: q.cursor });
    return c.json({ data: page.data as never[], next_cursor: page.nextCursor }, 200);
  })
  .openapi(csvRoute, async (c) => {
    const q = c.req.valid("query");
    return csv(c, parseLogQuery(c.get("account").id, q), q.limit) as never;
  });

async function csv(c: Context<ApiEnv>, filter: LogFilter, limit: number | undefined): Promise<Response> {
  const body = await logCsv(c.get("deps").db, filter, limit);
  return c.body(body, 200, {
    "content-type": "text/csv; charset=utf-8; header=present",
    "content-disposition": `attachment; filename="hikyaku-${filter.type}-log.csv"`,
  });
}
