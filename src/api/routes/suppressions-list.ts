// GET /v1/suppressions: the account's suppression list, newest first, a page at a time.
import { createRoute, z } from "@hono/zod-openapi";
import { listSuppressions } from "../../suppressions/suppressions.ts";
import { router } from "../context.ts";
import { bearerAuth, CursorParam, errorResponses, limitParam, page } from "../openapi-parts.ts";
import { SUPPRESSION_EXAMPLE, SuppressionSchema } from "./suppressions-schema.ts";

const route = createRoute({
  method: "get",
  path: "/v1/suppressions",
  operationId: "listSuppressions",
  tags: ["Suppressions"],
  summary: "List suppressed addresses",
  description:
    "A send to an address on this list ends at once as `suppressed` (a final log event, no attempt); the message's other recipients go on. Hard bounces (5.1.x) add addresses when the account has the suppression list turned on.",
  security: bearerAuth,
  request: {
    query: z.object({
      limit: limitParam(1000, 100),
      cursor: CursorParam,
    }),
  },
  responses: {
    200: {
      description: "A page of the list.",
      content: {
        "application/json": { schema: page(SuppressionSchema, "SuppressionPage"), example: { data: [SUPPRESSION_EXAMPLE], next_cursor: null } },
      },
    },
    ...errorResponses(401, 422, 429),
  },
});

export const suppressionsList = router().openapi(route, async (c) => {
  const q = c.req.valid("query");
  const page = await listSuppressions(c.get("deps").db, c.get("account").id, { limit: q.limit, cursor: q.cursor });
  return c.json(page, 200);
});
