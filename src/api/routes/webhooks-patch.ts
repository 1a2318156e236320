// PATCH /v1/webhooks/{id}: change the URL or the event types, disable or enable again.
import { createRoute, z } from "@hono/zod-openapi";
import { updateEndpoint } from "../../webhooks/endpoints.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { WEBHOOK_EXAMPLE, WebhookEvents, WebhookIdParam, WebhookSchema, WebhookUrl } from "./webhook-schemas.ts";

const route = createRoute({
  method: "patch",
  path: "/v1/webhooks/{id}",
  operationId: "updateWebhook",
  tags: ["Webhooks"],
  summary: "Change a webhook endpoint",
  description: "Enabling it again clears `disabled_reason` and the failure streak. Disabling drops the events still waiting for it (replay them later).",
  security: bearerAuth,
  request: {
    params: WebhookIdParam,
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({ url: WebhookUrl.optional(), events: WebhookEvents.optional(), enabled: z.boolean().optional() }),
          example: { events: ["delivered", "bounced", "expired", "suppressed"], enabled: true },
        },
      },
    },
  },
  responses: {
    200: {
      description: "The endpoint.",
      content: { "application/json": { schema: WebhookSchema, example: { ...WEBHOOK_EXAMPLE, events: ["delivered", "bounced", "expired", "suppressed"] } } },
    },
    ...errorResponses(400, 401, 404, 422),
  },
});

export const webhooksPatch = router().openapi(route, async (c) => {
  const { db, config } = c.get("deps");
  return c.json(await updateEndpoint(db, config, c.get("account").id, c.req.valid("param").id, c.req.valid("json")), 200);
});
