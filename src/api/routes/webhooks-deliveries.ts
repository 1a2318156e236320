// GET /v1/webhooks/{id}/deliveries: every attempt, newest first, with status and time.
import { createRoute, z } from "@hono/zod-openapi";
import { listDeliveries } from "../../webhooks/list-deliveries.ts";
import { router } from "../context.ts";
import { bearerAuth, CursorParam, errorResponses, limitParam, page } from "../openapi-parts.ts";
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
  description:
    "Every attempt to deliver an event to the endpoint, newest first, one page at a time: which event, the HTTP status of the answer (null when none came), how long it took, and whether it will be retried.",
  security: bearerAuth,
  request: {
    params: WebhookIdParam,
    query: z.object({
      limit: limitParam(500, 100),
      cursor: CursorParam,
    }),
  },
  responses: {
    200: {
      description: "Attempts, newest first.",
      content: {
        "application/json": {
          schema: page(AttemptSchema, "WebhookAttemptPage"),
          example: {
            data: [
              {
                id: 4812,
                webhook_id: "evt_d1234",
                type: "delivered",
                attempt: 2,
                status: 200,
                result: "delivered",
                error: null,
                response_ms: 87,
                time: "2026-12-01T09:00:05.000Z",
              },
              {
                id: 4807,
                webhook_id: "evt_d1234",
                type: "delivered",
                attempt: 1,
                status: 500,
                result: "retrying",
                error: "HTTP 500",
                response_ms: 112,
                time: "2026-12-01T09:00:00.000Z",
              },
            ],
            next_cursor: null,
          },
        },
      },
    },
    ...errorResponses(401, 404, 422),
  },
});

export const webhooksDeliveries = router().openapi(route, async (c) => {
  const q = c.req.valid("query");
  const page = await listDeliveries(c.get("deps").db, c.get("account").id, c.req.valid("param").id, { limit: q.limit, cursor: q.cursor });
  return c.json(page, 200);
});
