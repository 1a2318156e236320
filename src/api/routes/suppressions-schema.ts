// The shape of a suppression list entry, shared by the three /v1/suppressions routes.
import { z } from "@hono/zod-openapi";

export const SuppressionSchema = z
  .object({
    address: z.string().openapi({ description: "The address, lower case.", example: "gone@example.jp" }),
    reason: z.enum(["hard_bounce", "complaint", "manual"]).openapi({
      description: "hard_bounce: a 5.1.x bounce added it (accounts with the suppression list on); complaint and manual: added through POST.",
    }),
    event_id: z.number().int().nullable().openapi({ description: "The delivery log event (GET /v1/logs `id`) that caused it; null when added through POST." }),
    message_id: z.string().nullable().openapi({ description: "The message whose bounce caused it." }),
    detail: z
      .string()
      .nullable()
      .openapi({ description: "The destination's reply for a bounce, or the note given to POST.", example: "550 5.1.1 user unknown" }),
    created_at: z.string(),
  })
  .openapi("Suppression");

export const SUPPRESSION_EXAMPLE = {
  address: "gone@example.jp",
  reason: "hard_bounce",
  event_id: 123456,
  message_id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e",
  detail: "550 5.1.1 user unknown",
  created_at: "2026-12-01T09:00:00.000Z",
};
