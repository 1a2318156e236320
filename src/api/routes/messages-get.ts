// GET /v1/messages/{id}: a message's state and each recipient's, scoped to the account
// (another account's message answers 404, exactly like an unknown one).
import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../../errors.ts";
import { getMessage } from "../../messages/get-message.ts";
import { router } from "../context.ts";
import { errorResponses } from "../schemas.ts";

const RecipientState = z.enum(["scheduled", "queued", "sending", "deferred", "delivered", "bounced", "expired", "cancelled"]);

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

export const IdParam = z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }) });

const route = createRoute({
  method: "get",
  path: "/v1/messages/{id}",
  tags: ["Messages"],
  summary: "Get a message's state",
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    200: { description: "The message and its recipients.", content: { "application/json": { schema: MessageSchema } } },
    ...errorResponses(401, 404),
  },
});

export const messagesGet = router().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  const message = await getMessage(c.get("deps").db, c.get("account").id, id);
  if (!message) throw new AppError("not_found", `No message ${id} in this account.`, { field: "id" });
  return c.json(message, 200);
});
