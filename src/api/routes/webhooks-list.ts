// GET /v1/webhooks: the account's endpoints (at most 10, so one page).
import { createRoute, z } from "@hono/zod-openapi";
import { listEndpoints } from "../../webhooks/endpoints.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { WebhookSchema } from "./webhook-schemas.ts";

const route = createRoute({
  method: "get",
  path: "/v1/webhooks",
  operationId: "listWebhooks",
  tags: ["Webhooks"],
  summary: "List webhook endpoints",
  security: bearerAuth,
  responses: {
    200: {
      description: "The endpoints.",
      content: { "application/json": { schema: z.object({ data: z.array(WebhookSchema), next_cursor: z.string().nullable() }).openapi("WebhookList") } },
    },
    ...errorResponses(401),
  },
});

export const webhooksList = router().openapi(route, async (c) => {
  const data = await listEndpoints(c.get("deps").db, c.get("account").id);
  return c.json({ data, next_cursor: null }, 200);
});
