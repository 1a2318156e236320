// POST /v1/webhooks/{id}/rotate-secret: a new secret, shown once; the old one keeps
// signing beside it for 24 hours, so receivers can switch without losing an event.
import { createRoute, z } from "@hono/zod-openapi";
import { rotateSecret } from "../../webhooks/endpoints.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { WebhookIdParam } from "./webhook-schemas.ts";

const route = createRoute({
  method: "post",
  path: "/v1/webhooks/{id}/rotate-secret",
  operationId: "rotateWebhookSecret",
  tags: ["Webhooks"],
  summary: "Rotate a webhook endpoint's signing secret",
  description: "Until `previous_secret_expires_at` every event carries two signatures in `webhook-signature`: one with the new secret, one with the old.",
  security: bearerAuth,
  request: { params: WebhookIdParam },
  responses: {
    200: {
      description: "The new secret, shown once.",
      content: {
        "application/json": {
          schema: z
            .object({
              id: z.string(),
              secret: z.string().openapi({ example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }),
              previous_secret_expires_at: z.string(),
            })
            .openapi("RotatedWebhookSecret"),
          example: {
            id: "01936c2e-7b1a-7c3e-9a4b-2f1d3c4b5a69",
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            previous_secret_expires_at: "2026-12-02T09:00:00.000Z",
          },
        },
      },
    },
    ...errorResponses(401, 404),
  },
});

export const webhooksRotate = router().openapi(route, async (c) => {
  const { db, config } = c.get("deps");
  return c.json(await rotateSecret(db, config, c.get("account").id, c.req.valid("param").id), 200);
});
