// PATCH /v1/messages/{id}: move send_at while the message is still scheduled (no attempt
// has started); either door's messages can be moved.
import { createRoute, z } from "@hono/zod-openapi";
import { parseSendAt } from "../../accept/policy.ts";
import { now } from "../../clock.ts";
import { AppError } from "../../errors.ts";
import { rescheduleMessage } from "../../messages/reschedule.ts";
import { isUuid } from "../../util/ids.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { IdParam } from "./messages-get.ts";

const Rescheduled = z
  .object({
    id: z.string().openapi({ example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }),
    send_at: z.string().openapi({ description: "The new time delivery starts (RFC 3339, UTC).", example: "2026-12-01T01:00:00.000Z" }),
  })
  .openapi("Rescheduled");

const route = createRoute({
  method: "patch",
  path: "/v1/messages/{id}",
  operationId: "rescheduleMessage",
  tags: ["Messages"],
  summary: "Reschedule a scheduled message",
  description: "Moves `send_at` while no attempt has started. 409 once delivery has started or the message was cancelled.",
  security: bearerAuth,
  request: {
    params: IdParam,
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({
            send_at: z.string().max(64).openapi({
              description: "New RFC 3339 time (with offset), at most 30 days ahead; a time up to 60 s in the past sends now.",
              example: "2026-12-01T10:00:00+09:00",
            }),
          }),
          example: { send_at: "2026-12-01T10:00:00+09:00" },
        },
      },
    },
  },
  responses: {
    200: {
      description: "Rescheduled.",
      content: { "application/json": { schema: Rescheduled, example: { id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e", send_at: "2026-12-01T01:00:00.000Z" } } },
    },
    ...errorResponses(401, 404, 409, 422),
  },
});

export const messagesReschedule = router().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  if (!isUuid(id)) throw new AppError("not_found", `No message ${id} in this account.`, { field: "id" });
  const sendAt = parseSendAt(c.req.valid("json").send_at, "send_at") ?? now();
  await rescheduleMessage(c.get("deps").db, c.get("account").id, id, sendAt);
  return c.json({ id, send_at: sendAt.toISOString() }, 200);
});
