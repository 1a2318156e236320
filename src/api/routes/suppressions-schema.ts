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
