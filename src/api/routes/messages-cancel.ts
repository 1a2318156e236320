// PATCH /v1/messages/{id} (move send_at while scheduled) and DELETE /v1/messages/{id}
// (cancel every recipient not yet final).
import { createRoute, z } from "@hono/zod-openapi";
import { parseSendAt } from "../../accept/policy.ts";
import { now } from "../../clock.ts";
import { AppError } from "../../errors.ts";
import { cancelMessage } from "../../messages/cancel.ts";
import { rescheduleMessage } from "../../messages/reschedule.ts";
import { isUuid } from "../../util/ids.ts";
import { router } from "../context.ts";
import { errorResponses } from "../schemas.ts";
import { IdParam } from "./messages-get.ts";

const patch = createRoute({
  method: "patch",
  path: "/v1/messages/{id}",
  tags: ["Messages"],
  summary: "Reschedule a scheduled message",
  description: "Moves `send_at` while no attempt has started. 409 once delivery has started or the message was cancelled.",
  security: [{ bearer: [] }],
  request: {
    params: IdParam,
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({
            send_at: z.string().max(64).openapi({
              description: "New RFC 3339 time (with offset), at most 30 days ahead; a time up to 60 s in the past sends now.",
              example: "2026-12-01T09:00:00+09:00",
            }),
          }),
        },
      },
    },
  },
  responses: {
    200: { description: "Rescheduled.", content: { "application/json": { schema: z.object({ id: z.string(), send_at: z.string() }) } } },
    ...errorResponses(401, 404, 409, 422),
  },
});

const del = createRoute({
  method: "delete",
  path: "/v1/messages/{id}",
  tags: ["Messages"],
  summary: "Cancel a message",
  description:
    "Cancels every recipient not yet final, whether scheduled or waiting for a retry; each gets a `cancelled` log event. An attempt already in progress keeps its outcome, and no attempt starts after this answer. 409 when nothing is left to cancel.",
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    200: {
      description: "Cancelled.",
      content: {
        "application/json": {
          schema: z
            .object({
              id: z.string(),
              cancelled: z.number().int().openapi({ description: "Recipients cancelled now." }),
              in_flight: z.number().int().openapi({ description: "Recipients whose attempt was already under way: its outcome stands, and no retry follows." }),
            })
            .openapi("Cancelled"),
        },
      },
    },
    ...errorResponses(401, 404, 409),
  },
});

const notFound = (id: string) => new AppError("not_found", `No message ${id} in this account.`, { field: "id" });

export const messagesCancel = router()
  .openapi(patch, async (c) => {
    const { id } = c.req.valid("param");
    if (!isUuid(id)) throw notFound(id);
    const sendAt = parseSendAt(c.req.valid("json").send_at, "send_at") ?? now();
    await rescheduleMessage(c.get("deps").db, c.get("account").id, id, sendAt);
    return c.json({ id, send_at: sendAt.toISOString() }, 200);
  })
  .openapi(del, async (c) => {
    const { id } = c.req.valid("param");
    if (!isUuid(id)) throw notFound(id);
    const r = await cancelMessage(c.get("deps").db, c.get("account").id, id);
    return c.json({ id, cancelled: r.cancelled, in_flight: r.inFlight }, 200);
  });
