// DELETE /v1/webhooks/{id}: the endpoint, its waiting events and its attempt history.
import { createRoute } from "@hono/zod-openapi";
import { deleteEndpoint } from "../../webhooks/endpoints.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { WebhookIdParam } from "./webhook-schemas.ts";

const route = createRoute({
  method: "delete",
  path: "/v1/webhooks/{id}",
  operationId: "deleteWebhook",
  tags: ["Webhooks"],
  summary: "Delete a webhook endpoint",
  description:
    "Deletes the endpoint together with the events still waiting for it and its attempt history; nothing more is sent to its URL. This cannot be undone.",
  security: bearerAuth,
  request: { params: WebhookIdParam },
  responses: { 204: { description: "Deleted." }, ...errorResponses(401, 404) },
});

export const webhooksDelete = router().openapi(route, async (c) => {
  await deleteEndpoint(c.get("deps").db, c.get("account").id, c.req.valid("param").id);
  return c.body(null, 204);
});
