// GET /v1/admin/destination-policies: every built-in and overridden destination policy,
// with the settings in force, where they come from, and the live state of its budget.
import { createRoute, z } from "@hono/zod-openapi";
import { listPolicies } from "../../delivery/destination-policy.ts";
import { readPoliciesInForce } from "../../delivery/shaping-state.ts";
import { router } from "../context.ts";
import { adminAuth, errorResponses } from "../openapi-parts.ts";
import { DEFAULT_EXAMPLE, DOCOMO_EXAMPLE, PolicyViewSchema, policyView } from "./destination-policies-schema.ts";

const route = createRoute({
  method: "get",
  path: "/v1/admin/destination-policies",
  operationId: "listDestinationPolicies",
  tags: ["Admin"],
  summary: "List destination policies (operator)",
  description:
    "Every built-in policy, every domain the operator named, and `*` last: the settings in force, `source` (built-in, override, or built-in+override), `basis` (where the built-in numbers come from), the MX suffixes that group other domains into a policy, and the live state of each budget (current rate, backoff, connections in use). Not paged: the list is the built-in table plus the operator's overrides.",
  security: adminAuth,
  responses: {
    200: {
      description: "Every policy; `*` is last and shows one live state per MX group.",
      content: {
        "application/json": {
          schema: z.object({ data: z.array(PolicyViewSchema) }).openapi("DestinationPolicyList"),
          example: { data: [DOCOMO_EXAMPLE, DEFAULT_EXAMPLE] },
        },
      },
    },
    ...errorResponses(401, 404),
  },
});

export const destinationPoliciesList = router().openapi(route, async (c) => {
  const db = c.get("deps").db;
  const { overrides, states } = await readPoliciesInForce(db);
  const data = listPolicies(overrides).map((e) => policyView(e.policy, e.builtIn, overrides, states));
  return c.json({ data }, 200);
});
