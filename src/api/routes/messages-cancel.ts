// DELETE /v1/messages/{id}: cancel every recipient not yet final, whether scheduled or
// waiting for a retry.
import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../../errors.ts";
import { cancelMessage } from "../../messages/cancel.ts";
import { isUuid } from "../../util/ids.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { IdParam } from "./messages-get.ts";

const Cancelled = z
  .object({
    id: z.string().openapi({ example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }),
    cancelled: z.number().int().openapi({ description: "Recipients cancelled now.", example: 2 }),
    in_flight: z
      .number()
      .int()
      .openapi({ description: "Recipients whose attempt was already under way: its outcome stands, and no retry follows.", example: 0 }),
  })
  .openapi("Cancelled");

const route = createRoute({
  method: "delete",
  path: "/v1/messages/{id}",
  operationId: "cancelMessage",
  tags: ["Messages"],
  summary: "Cancel a message",
  description:
    "Cancels every recipient not yet final, whether scheduled or waiting for a retry; each gets a `cancelled` log event. An attempt already in progress keeps its outcome, and no attempt starts after this answer. 409 when nothing is left to cancel.",
  security: bearerAuth,
  request: { params: IdParam },
  responses: {
    200: {
      description: "Cancelled.",
      content: { "application/json": { schema: Cancelled, example: { id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e", cancelled: 2, in_flight: 0 } } },
    },
    ...errorResponses(401, 404, 409),
  },
});

export const messagesCancel = router().openapi(route, async (c) => {
  const { id } = c.req.valid("param");
  if (!isUuid(id)) throw new AppError("not_found", `No message ${id} in this account.`, { field: "id" });
  const r = await cancelMessage(c.get("deps").db, c.get("account").id, id);
  return c.json({ id, cancelled: r.cancelled, in_flight: r.inFlight }, 200);
});
