// Verify a domain's DNS records (a found DKIM record starts signing) and rotate its keys
// (a new pending selector; the old key signs until the new record is found).
import { createRoute, z } from "@hono/zod-openapi";
import { rotateKeys } from "../../domains/domain-store.ts";
import { verifyDomain } from "../../domains/verify-domain.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { DOMAIN_EXAMPLE, DomainParam, DomainSchema, domainFromPath, viewOf } from "./domains.ts";

const CheckSchema = z
  .object({
    purpose: z.enum(["dkim", "spf", "dmarc"]),
    type: z.literal("TXT"),
    name: z.string().openapi({ example: "hk202611a3f9._domainkey.shop.example" }),
    status: z.enum(["found", "missing", "mismatched", "error"]).openapi({ description: "error: the look-up itself failed; try again." }),
    expected: z.string().openapi({ description: "The value to publish." }),
    seen: z.array(z.string()).openapi({ description: "The TXT values seen at the name (each record's strings joined)." }),
    detail: z.string().openapi({ description: "A sentence saying what was found and what to do." }),
    selector: z.string().optional(),
    algorithm: z.enum(["rsa-sha256", "ed25519-sha256"]).optional(),
  })
  .openapi("RecordCheck");

const verify = createRoute({
  method: "post",
  path: "/v1/domains/{domain}/verify",
  operationId: "verifyDomain",
  tags: ["Domains"],
  summary: "Check a domain's DNS records",
  description:
    "Looks up the DKIM, SPF and DMARC records through Hikyaku's resolvers and reports each. A pending key whose record is found becomes active (signing starts) and retires the key it replaces. The first account whose DKIM record is found owns the domain: mail From it (or its subdomains) is refused to every other account, and other accounts' verifications of it answer 409.",
  security: bearerAuth,
  request: { params: DomainParam },
  responses: {
    200: {
      description: "The domain after the check, and one result per record.",
      content: {
        "application/json": {
          schema: DomainSchema.extend({ checks: z.array(CheckSchema) }).openapi("DomainVerification"),
          example: {
            ...DOMAIN_EXAMPLE,
            checks: [
              {
                purpose: "dkim",
                type: "TXT",
                name: "hk202611a3f9._domainkey.shop.example",
                status: "missing",
                expected: "v=DKIM1; k=rsa; p=MIIBIjANBgkqh…",
                seen: [],
                detail: "No TXT record at hk202611a3f9._domainkey.shop.example yet: publish the value, then verify again.",
                selector: "hk202611a3f9",
                algorithm: "rsa-sha256",
              },
            ],
          },
        },
      },
    },
    ...errorResponses(401, 404, 409),
  },
});

const rotate = createRoute({
  method: "post",
  path: "/v1/domains/{domain}/rotate",
  operationId: "rotateDomainKeys",
  tags: ["Domains"],
  summary: "Rotate a domain's DKIM keys",
  description:
    "Creates a new key set under a new selector, pending until its record is found by verify. The current key keeps signing until then, and retires after; keep its record published for a few days more.",
  security: bearerAuth,
  request: { params: DomainParam },
  responses: {
    201: {
      description: "The domain with its new pending keys and records.",
      content: { "application/json": { schema: DomainSchema, example: DOMAIN_EXAMPLE } },
    },
    ...errorResponses(401, 404),
  },
});

export const domainsVerify = router()
  .openapi(verify, async (c) => {
    const deps = c.get("deps");
    const row = await domainFromPath(deps, c.get("account").id, c.req.valid("param").domain);
    const checks = await verifyDomain(deps, row);
    return c.json({ ...(await viewOf(deps, row)), checks }, 200);
  })
  .openapi(rotate, async (c) => {
    const deps = c.get("deps");
    const row = await domainFromPath(deps, c.get("account").id, c.req.valid("param").domain);
    await rotateKeys(deps, row);
    return c.json(await viewOf(deps, row), 201);
  });
