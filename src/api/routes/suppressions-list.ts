// GET /v1/suppressions: the account's suppression list, newest first, a page at a time.
import { createRoute, z } from "@hono/zod-openapi";
import { listSuppressions } from "../../suppressions/suppressions.ts";
import { router } from "../context.ts";
import { errorResponses } from "../schemas.ts";
import { SuppressionSchema } from "./suppressions-schema.ts";

const route = createRoute({
  method: "get",
  path: "/v1/suppressions",
  tags: ["Suppressions"],
  summary: "List suppressed addresses",
  description:
    "A send to an address on this list ends at once as `suppressed` (a final log event, no attempt); the message's other recipients go on. Hard bounces (5.1.x) add addresses when the account has the suppression list turned on.",
  security: [{ bearer: [] }],
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(1000).optional().openapi({ description: "Page size, 1-1000 (default 100).", example: 100 }),
      cursor: z.string().max(500).optional().openapi({ description: "`next_cursor` from the previous page." }),
    }),
  },
  responses: {
    200: {
      description: "A page of the list.",
      content: {
        "application/json": { schema: z.object({ data: z.array(SuppressionSchema), next_cursor: z.string().nullable() }).openapi("SuppressionPage") },
      },
    },
    ...errorResponses(401, 422, 429),
  },
});

export const suppressionsList = router().openapi(route, async (c) => {
  const q = c.req.valid("query");
  const page = await listSuppressions(c.get("deps").db, c.get("account").id, { limit: q.limit ?? 100, cursor: q.cursor });
  return c.json(page, 200);
});
