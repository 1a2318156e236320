// POST /v1/suppressions: put an address on the account's suppression list by hand, e.g.
// after a complaint the application learnt of, or an unsubscribe.
import { createRoute, z } from "@hono/zod-openapi";
import { addSuppression, suppressionAddress } from "../../suppressions/suppressions.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { SUPPRESSION_EXAMPLE, SuppressionSchema } from "./suppressions-schema.ts";

const MANUAL_EXAMPLE = { ...SUPPRESSION_EXAMPLE, reason: "complaint", event_id: null, message_id: null, detail: "complained by phone" };

const route = createRoute({
  method: "post",
  path: "/v1/suppressions",
  operationId: "addSuppression",
  tags: ["Suppressions"],
  summary: "Suppress an address",
  description: "201 when added; 200 with the entry as it was when the address is already on the list. Works whether or not hard bounces add addresses.",
  security: bearerAuth,
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({
            address: z.string().max(320).openapi({ example: "gone@example.jp" }),
            reason: z.enum(["complaint", "manual"]).optional().openapi({ description: "Default manual." }),
            detail: z.string().max(500).optional().openapi({ description: "A note kept with the entry.", example: "complained by phone" }),
          }),
          example: { address: "gone@example.jp", reason: "complaint", detail: "complained by phone" },
        },
      },
    },
  },
  responses: {
    201: { description: "Added.", content: { "application/json": { schema: SuppressionSchema, example: MANUAL_EXAMPLE } } },
    200: { description: "Already on the list; unchanged.", content: { "application/json": { schema: SuppressionSchema, example: SUPPRESSION_EXAMPLE } } },
    ...errorResponses(400, 401, 409, 422, 429),
  },
});

export const suppressionsPost = router().openapi(route, async (c) => {
  const body = c.req.valid("json");
  const address = suppressionAddress(body.address, "address");
  const r = await addSuppression(c.get("deps").db, c.get("account").id, { address, reason: body.reason ?? "manual", detail: body.detail });
  return r.created ? c.json(r.suppression, 201) : c.json(r.suppression, 200);
});
