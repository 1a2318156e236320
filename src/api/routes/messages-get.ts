// GET /v1/messages/{id}: a message's state and each recipient's, scoped to the account
// (another account's message answers 404, exactly like an unknown one).
import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../../errors.ts";
import { getMessage } from "../../messages/get-message.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";

const RecipientState = z.enum(["scheduled", "queued", "sending", "deferred", "delivered", "bounced", "expired", "cancelled", "suppressed"]);

export const MessageSchema = z
  .object({
    id: z.string(),
    message_id: z.string().openapi({ description: "The Message-ID header, without angle brackets." }),
    state: z
      .enum(["scheduled", "queued", "sending", "deferred", "completed"])
      .openapi({ description: "completed: every recipient is final (see each recipient's state)." }),
    channel: z.enum(["http", "smtp", "dsn"]).openapi({ description: "dsn: a delivery status notification Hikyaku sent about one of your messages." }),
    cancelled_at: z.string().nullable().openapi({ description: "When DELETE cancelled it." }),
    envelope_from: z.string(),
    priority: z.enum(["high", "normal", "bulk"]),
    tags: z.array(z.string()),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    created_at: z.string(),
    send_at: z.string().nullable(),
    expires_at: z.string(),
    recipients: z.array(
      z.object({
        email: z.string(),
        state: RecipientState,
        attempts: z.number().int(),
        last_code: z.number().int().nullable(),
        last_enhanced_code: z.string().nullable(),
        last_response: z.string().nullable(),
        updated_at: z.string(),
      }),
    ),
  })
  .openapi("Message");

const MESSAGE_EXAMPLE = {
  id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e",
  message_id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e@hikyaku.example",
  state: "completed",
  channel: "http",
  cancelled_at: null,
  envelope_from: "orders@shop.example",
  priority: "normal",
  tags: ["order"],
  metadata: { order: 1234 },
  created_at: "2026-11-27T09:00:00.000Z",
  send_at: null,
  expires_at: "2026-11-27T09:30:00.000Z",
  recipients: [
    {
      email: "customer@example.com",
      state: "delivered",
      attempts: 1,
      last_code: 250,
      last_enhanced_code: "2.0.0",
      last_response: "250 2.0.0 Ok: queued as 4F1A2",
      updated_at: "2026-11-27T09:00:01.234Z",
    },
  ],
};

export const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }) });

const route = createRoute({
  method: "get",
  path: "/v1/messages/{id}",
  operationId: "getMessage",
  tags: ["Messages"],
  summary: "Get a message's state",
  description:
    "The message and each recipient's state, for messages from either door (HTTP or SMTP; the SMTP `250` reply carries the id). Another account's message answers 404, like an unknown one. Each attempt's details are in GET /v1/logs?message_id=….",
  security: bearerAuth,
  request: { params: IdParam },
  responses: {
    200: { description: "The message and its recipients.", content: { "application/json": { schema: MessageSchema, example: MESSAGE_EXAMPLE } } },
    ...errorResponses(401, 404),
  },
});

export const messagesGet = router().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const message = await getMessage(c.get("deps").db, c.get("account").id, id);
  if (!message) throw new AppError("not_found", `No message ${id} in this account.`, { field: "id" });
  return c.json(message, 200);
});
