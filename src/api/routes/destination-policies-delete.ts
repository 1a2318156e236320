// DELETE /v1/admin/destination-policies/{domain}: drop the operator's override; the
// domain goes back to its built-in policy, or to `*`.
import { createRoute } from "@hono/zod-openapi";
import { changeOverride } from "../../delivery/policy-store.ts";
import { readPoliciesInForce } from "../../delivery/shaping-state.ts";
import { AppError } from "../../errors.ts";
import { router } from "../context.ts";
import { adminAuth, errorResponses } from "../openapi-parts.ts";
import {
  checkRestoredSuffixes,
  DOCOMO_EXAMPLE,
  DomainParam,
  lookupView,
  PolicyLookupSchema,
  policyDomain,
  refuseAlias,
} from "./destination-policies-schema.ts";

const route = createRoute({
  method: "delete",
  path: "/v1/admin/destination-policies/{domain}",
  operationId: "deleteDestinationPolicy",
  tags: ["Admin"],
  summary: "Remove a destination policy override (operator)",
  description:
    "Drops the operator's settings for `domain`: a built-in policy goes back to its built-in values, any other domain back to `*` (and its MX group's budget). Answers the policy now in force; 404 when the domain had no override, so a mistyped name is noticed.",
  security: adminAuth,
  request: { params: DomainParam },
  responses: {
    200: {
      description: "The override is gone; the policy now in force for the domain.",
      content: {
        "application/json": {
          schema: PolicyLookupSchema,
          example: {
            domain: "docomo.ne.jp",
            via: "domain",
            key: "docomo.ne.jp",
            policy: { ...DOCOMO_EXAMPLE, source: "built-in", override: null, settings: { ...DOCOMO_EXAMPLE.settings, messages_per_minute: 180 } },
          },
        },
      },
    },
    ...errorResponses(401, 404, 422),
  },
});

export const destinationPoliciesDelete = router().openapi(route, async (c) => {
  const domain = policyDomain(c.req.valid("param").domain);
  refuseAlias(domain);
  const db = c.get("deps").db;
  await changeOverride(db, domain, (current) => {
    if (!current.has(domain)) {
      throw new AppError("not_found", `${domain} has no override; its policy is already the built-in one (or \`*\`).`, { field: "domain" });
    }
    checkRestoredSuffixes(domain, current, "removing the override");
    return null;
  });
  const { overrides, states } = await readPoliciesInForce(db);
  return c.json(lookupView(domain, [], overrides, states), 200);
});
