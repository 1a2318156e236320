// PUT /v1/admin/destination-policies/{domain}: the operator's settings for one policy.
// The body replaces the earlier override; a field left out keeps the built-in value (or,
// for a domain with no built-in policy, follows `*`). In force in every process within
// about a second (src/delivery/policy-store.ts).
import { createRoute } from "@hono/zod-openapi";
import { changeOverride } from "../../delivery/policy-store.ts";
import { readPoliciesInForce } from "../../delivery/shaping-state.ts";
import { router } from "../context.ts";
import { adminAuth, errorResponses } from "../openapi-parts.ts";
import {
  DOCOMO_EXAMPLE,
  DomainParam,
  lookupView,
  overrideFrom,
  PolicyInputSchema,
  PolicyLookupSchema,
  policyDomain,
  refuseAlias,
} from "./destination-policies-schema.ts";

const route = createRoute({
  method: "put",
  path: "/v1/admin/destination-policies/{domain}",
  operationId: "setDestinationPolicy",
  tags: ["Admin"],
  summary: "Override a destination policy (operator)",
  description:
    "Sets the operator's settings for `domain` (a built-in policy, a domain of your own, or `*`). The body replaces any earlier override: a field left out keeps the built-in value, or for a domain without a built-in policy follows `*`; `{}` gives a domain a budget of its own with `*`'s settings. `mx_suffixes` replaces the built-in list. An alias (hotmail.com) is refused: change the policy it belongs to (outlook.com). Every worker process uses the new settings within about a second.",
  security: adminAuth,
  request: {
    params: DomainParam,
    body: {
      required: true,
      content: { "application/json": { schema: PolicyInputSchema, example: { messages_per_minute: 120 } } },
    },
  },
  responses: {
    200: {
      description: "The policy now in force for the domain.",
      content: {
        "application/json": {
          schema: PolicyLookupSchema,
          example: { domain: "docomo.ne.jp", via: "domain", key: "docomo.ne.jp", policy: { ...DOCOMO_EXAMPLE, live: [] } },
        },
      },
    },
    ...errorResponses(401, 404, 422),
  },
});

export const destinationPoliciesPut = router().openapi(route, async (c) => {
  const domain = policyDomain(c.req.valid("param").domain);
  refuseAlias(domain);
  const db = c.get("deps").db;
  const body = c.req.valid("json");
  await changeOverride(db, domain, (current) => overrideFrom(domain, body, current));
  const { overrides, states } = await readPoliciesInForce(db);
  return c.json(lookupView(domain, [], overrides, states), 200);
});
