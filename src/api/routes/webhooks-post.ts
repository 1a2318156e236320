// POST /v1/webhooks: a new endpoint; its signing secret is in this answer only.
import { createRoute, z } from "@hono/zod-openapi";
import { createEndpoint } from "../../webhooks/endpoints.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { CREATED_WEBHOOK_EXAMPLE, CreatedWebhookSchema, WebhookEvents, WebhookUrl } from "./webhook-schemas.ts";

const route = createRoute({
  method: "post",
  path: "/v1/webhooks",
  operationId: "createWebhook",
  tags: ["Webhooks"],
  summary: "Create a webhook endpoint",
  description:
    "Events are POSTed as the log shows them, plus `type` and `account_id`, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,…`). Any 2xx is success; other answers are retried with exponential backoff for 24 h; 410 disables the endpoint, and so do 3 days of failures.",
  security: bearerAuth,
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({ url: WebhookUrl, events: WebhookEvents, enabled: z.boolean().optional().openapi({ description: "Default true." }) }),
          example: { url: "https://app.example/hooks/hikyaku", events: ["delivered", "bounced", "expired"] },
        },
      },
    },
  },
  responses: {
    201: {
      description: "Created; the secret is shown once.",
      content: { "application/json": { schema: CreatedWebhookSchema, example: CREATED_WEBHOOK_EXAMPLE } },
    },
    ...errorResponses(400, 401, 409, 422),
  },
});

export const webhooksPost = router().openapi(route, async (c) => {
  const { db, config } = c.get("deps");
  return c.json(await createEndpoint(db, config, c.get("account").id, c.req.valid("json")), 201);
});
