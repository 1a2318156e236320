// GET /v1/admin/destination-policies/{domain}: the policy mail to one domain is shaped by,
// and how the domain finds it (its own name, an alias, an MX suffix, or `*`).
import { createRoute, z } from "@hono/zod-openapi";
import { canonicalName } from "../../delivery/destination-policy.ts";
import { readPoliciesInForce } from "../../delivery/shaping-state.ts";
import { AppError } from "../../errors.ts";
import { router } from "../context.ts";
import { adminAuth, errorResponses } from "../openapi-parts.ts";
import { DOCOMO_EXAMPLE, DomainParam, lookupView, PolicyLookupSchema, policyDomain } from "./destination-policies-schema.ts";

const route = createRoute({
  method: "get",
  path: "/v1/admin/destination-policies/{domain}",
  operationId: "getDestinationPolicy",
  tags: ["Admin"],
  summary: "Get the destination policy for a domain (operator)",
  description:
    "The policy in force for mail to `domain`, for any domain: a listed one gets its own policy (an alias gets the policy it belongs to); any other gets `*`, with the budget of its MX group. Hikyaku does no DNS look-up here: pass the domain's MX hosts in `mx` (as `dig +short MX` lists them) to see which MX group it joins.",
  security: adminAuth,
  request: {
    params: DomainParam,
    query: z.strictObject({
      mx: z
        .string()
        .max(2000)
        .optional()
        .openapi({
          param: { name: "mx", in: "query" },
          description: "The domain's MX host names in preference order, comma-separated.",
          example: "aspmx.l.google.com,alt1.aspmx.l.google.com",
        }),
    }),
  },
  responses: {
    200: {
      description: "The policy in force and the budget key.",
      content: {
        "application/json": {
          schema: PolicyLookupSchema,
          example: { domain: "docomo.ne.jp", via: "domain", key: "docomo.ne.jp", policy: DOCOMO_EXAMPLE },
        },
      },
    },
    ...errorResponses(401, 404, 422),
  },
});

export const destinationPoliciesGet = router().openapi(route, async (c) => {
  const domain = policyDomain(c.req.valid("param").domain);
  const mx = mxHosts(c.req.valid("query").mx);
  const db = c.get("deps").db;
  const { overrides, states } = await readPoliciesInForce(db);
  return c.json(lookupView(domain, mx, overrides, states), 200);
});

const HOST = /^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;

function mxHosts(list: string | undefined): string[] {
  if (list === undefined) return [];
  return list.split(",").map((h, i) => {
    const host = canonicalName(h);
    if (!HOST.test(host)) throw new AppError("validation_error", `mx: host ${i + 1} ("${h.slice(0, 80)}") is not a host name.`, { field: "mx" });
    return host;
  });
}
