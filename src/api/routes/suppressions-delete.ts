// DELETE /v1/suppressions/{address}: take an address off the list; the next send to it
// is attempted again (and suppressed again only by a new hard bounce).
import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../../errors.ts";
import { removeSuppression, suppressionAddress } from "../../suppressions/suppressions.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";

const route = createRoute({
  method: "delete",
  path: "/v1/suppressions/{address}",
  operationId: "removeSuppression",
  tags: ["Suppressions"],
  summary: "Remove a suppressed address",
  description: "Takes the address off the list: the next send to it is attempted again, and only a new hard bounce (or POST) suppresses it again.",
  security: bearerAuth,
  request: {
    params: z.object({
      address: z
        .string()
        .max(320)
        .openapi({ param: { name: "address", in: "path" }, example: "gone@example.jp" }),
    }),
  },
  responses: {
    200: {
      description: "Removed.",
      content: {
        "application/json": {
          schema: z.object({ address: z.string(), deleted: z.literal(true) }).openapi("DeletedSuppression"),
          example: { address: "gone@example.jp", deleted: true },
        },
      },
    },
    ...errorResponses(401, 404, 422, 429),
  },
});

export const suppressionsDelete = router().openapi(route, async (c) => {
  const address = suppressionAddress(c.req.valid("param").address, "address");
  if (!(await removeSuppression(c.get("deps").db, c.get("account").id, address))) {
    throw new AppError("not_found", `${address} is not on this account's suppression list.`, { field: "address" });
  }
  return c.json({ address, deleted: true as const }, 200);
});
