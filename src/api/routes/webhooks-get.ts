// GET /v1/webhooks/{id}: one endpoint, with why it is disabled if Hikyaku disabled it.
import { createRoute } from "@hono/zod-openapi";
import { getEndpoint } from "../../webhooks/endpoints.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { WEBHOOK_EXAMPLE, WebhookIdParam, WebhookSchema } from "./webhook-schemas.ts";

const route = createRoute({
  method: "get",
  path: "/v1/webhooks/{id}",
  operationId: "getWebhook",
  tags: ["Webhooks"],
  summary: "Get a webhook endpoint",
  description:
    "One endpoint of the account. When Hikyaku disabled it (a 410 Gone answer, or 3 days of failures), `disabled_reason` says why; `failing_since` shows a run of failed attempts still under way.",
  security: bearerAuth,
  request: { params: WebhookIdParam },
  responses: {
    200: { description: "The endpoint.", content: { "application/json": { schema: WebhookSchema, example: WEBHOOK_EXAMPLE } } },
    ...errorResponses(401, 404),
  },
});

export const webhooksGet = router().openapi(route, async (c) => {
  return c.json(await getEndpoint(c.get("deps").db, c.get("account").id, c.req.valid("param").id), 200);
});
