// GET /v1/webhooks: the account's endpoints (at most 10, so one page).
import { createRoute } from "@hono/zod-openapi";
import { listEndpoints } from "../../webhooks/endpoints.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses, page } from "../openapi-parts.ts";
import { WEBHOOK_EXAMPLE, WebhookSchema } from "./webhook-schemas.ts";

const route = createRoute({
  method: "get",
  path: "/v1/webhooks",
  operationId: "listWebhooks",
  tags: ["Webhooks"],
  summary: "List webhook endpoints",
  description:
    "Every webhook endpoint of the account, enabled or not. An account has at most 10, so they always fit on one page and `next_cursor` is null; the answer has the same `{ data, next_cursor }` shape as every list.",
  security: bearerAuth,
  responses: {
    200: {
      description: "The endpoints.",
      content: { "application/json": { schema: page(WebhookSchema, "WebhookList"), example: { data: [WEBHOOK_EXAMPLE], next_cursor: null } } },
    },
    ...errorResponses(401),
  },
});

export const webhooksList = router().openapi(route, async (c) => {
  const data = await listEndpoints(c.get("deps").db, c.get("account").id);
  return c.json({ data, next_cursor: null }, 200);
});
