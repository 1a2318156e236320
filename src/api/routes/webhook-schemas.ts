// Shapes shared by the /v1/webhooks routes.
import { z } from "@hono/zod-openapi";
import { WEBHOOK_EVENT_TYPES } from "../../webhooks/event-types.ts";

export const WebhookIdParam = z.object({
  id: z
    .string()
    .max(100)
    .openapi({ param: { name: "id", in: "path" }, example: "01936c2e-7b1a-7c3e-9a4b-2f1d3c4b5a69" }),
});

export const WebhookUrl = z.string().max(2000).openapi({
  description: "Where events are POSTed (https, or http). Internal addresses are refused, at creation and at every connect; redirects are not followed.",
  example: "https://app.example/hooks/hikyaku",
});

export const WebhookEvents = z
  .array(z.enum(WEBHOOK_EVENT_TYPES))
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length * 2)
  .openapi({ description: "The event types to receive.", example: ["delivered", "bounced", "expired"] });

export const WebhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable().openapi({ description: "Why Hikyaku disabled the endpoint (410 Gone, or 3 days of failures); null otherwise." }),
    failing_since: z.string().nullable().openapi({ description: "Start of the current run of failed attempts; null after a success." }),
    previous_secret_expires_at: z.string().nullable().openapi({ description: "After a rotation, until when the previous secret also signs." }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("Webhook");

export const CreatedWebhookSchema = WebhookSchema.extend({
  secret: z.string().openapi({ description: "The signing secret (`whsec_…`), shown only now.", example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }),
}).openapi("CreatedWebhook");

/** An endpoint as the webhook routes answer it, for the examples. */
export const WEBHOOK_EXAMPLE = {
  id: "01936c2e-7b1a-7c3e-9a4b-2f1d3c4b5a69",
  url: "https://app.example/hooks/hikyaku",
  events: ["delivered", "bounced", "expired"],
  enabled: true,
  disabled_reason: null,
  failing_since: null,
  previous_secret_expires_at: null,
  created_at: "2026-12-01T09:00:00.000Z",
  updated_at: "2026-12-01T09:00:00.000Z",
};

export const CREATED_WEBHOOK_EXAMPLE = { ...WEBHOOK_EXAMPLE, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" };
