// GET /v1/webhooks/{id}/deliveries: every attempt, newest first, with status and time.
import { createRoute, z } from "@hono/zod-openapi";
import { listDeliveries } from "../../webhooks/list-deliveries.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { WebhookIdParam } from "./webhook-schemas.ts";

const AttemptSchema = z
  .object({
    id: z.number().int(),
    webhook_id: z.string().openapi({ description: "The event's webhook-id header.", example: "evt_d1234" }),
    type: z.string().openapi({ example: "delivered" }),
    attempt: z.number().int(),
    status: z.number().int().nullable().openapi({ description: "The HTTP status; null when no answer came." }),
    result: z.enum(["delivered", "retrying", "failed"]).openapi({ description: "failed: retries ended after 24 h." }),
    error: z.string().nullable(),
    response_ms: z.number().int(),
    time: z.string(),
  })
  .openapi("WebhookAttempt");

const route = createRoute({
  method: "get",
  path: "/v1/webhooks/{id}/deliveries",
  operationId: "listWebhookDeliveries",
  tags: ["Webhooks"],
  summary: "List a webhook endpoint's delivery attempts",
  security: bearerAuth,
  request: {
    params: WebhookIdParam,
    query: z.object({
      limit: z.coerce.number().int().min(1).max(500).optional().openapi({ description: "Default 100." }),
      cursor: z.string().max(20).optional().openapi({ description: "`next_cursor` from the previous page." }),
    }),
  },
  responses: {
    200: {
      description: "Attempts, newest first.",
      content: { "application/json": { schema: z.object({ data: z.array(AttemptSchema), next_cursor: z.string().nullable() }).openapi("WebhookAttemptPage") } },
    },
    ...errorResponses(401, 404, 422),
  },
});

export const webhooksDeliveries = router().openapi(route, async (c) => {
  const q = c.req.valid("query");
  const page = await listDeliveries(c.get("deps").db, c.get("account").id, c.req.valid("param").id, { limit: q.limit ?? 100, cursor: q.cursor });
  return c.json(page, 200);
});
