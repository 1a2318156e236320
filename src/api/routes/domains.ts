// Sending domains: register one (its DKIM keys are generated and the DNS records to
// publish come back), list, read, change, delete. Another account's domain answers 404.
import { createRoute, z } from "@hono/zod-openapi";
import type { Config } from "../../config.ts";
import type { Db } from "../../db/client.ts";
import { dnsRecords } from "../../domains/dns-records.ts";
import { checkDomainName, lookupName, unicodeName } from "../../domains/domain-name.ts";
import { createDomain, type DomainRow, deleteDomain, findDomain, type KeyRow, keysOf, listDomains, setSignBeforeVerify } from "../../domains/domain-store.ts";
import { AppError } from "../../errors.ts";
import { router } from "../context.ts";
import { bearerAuth, CursorParam, errorResponses, limitParam, page } from "../openapi-parts.ts";

const Algorithm = z.enum(["rsa-sha256", "ed25519-sha256"]);

export const DnsRecordSchema = z
  .object({
    purpose: z.enum(["dkim", "spf", "dmarc"]),
    type: z.literal("TXT"),
    name: z.string().openapi({ example: "hk202611a3f9._domainkey.shop.example" }),
    value: z.string().openapi({ description: "The whole TXT value.", example: "v=DKIM1; k=rsa; p=MIIBIjANBgkqh…" }),
    strings: z
      .array(z.string())
      .openapi({ description: "The value split into character-strings of at most 255 bytes, for DNS editors that want them separately." }),
    required: z.boolean().openapi({
      description:
        "true: Hikyaku signs only after this record is found. The others are for receivers (SPF, DMARC, the Ed25519 signature) and strongly recommended.",
    }),
    selector: z.string().optional(),
    algorithm: Algorithm.optional(),
  })
  .openapi("DnsRecord");

export const DomainSchema = z
  .object({
    domain: z.string().openapi({ description: "The domain in ASCII (IDNs in punycode).", example: "shop.example" }),
    unicode: z.string().openapi({ description: "The domain as people read it.", example: "shop.example" }),
    status: z.enum(["pending", "active"]).openapi({ description: "active: the DKIM record was found and mail From this domain (or a subdomain) is signed." }),
    signing: z.boolean().openapi({ description: "Whether mail From this domain is signed right now (active, or sign_before_verify)." }),
    sign_before_verify: z.boolean().openapi({ description: "Sign with the pending key before its record is found." }),
    return_path_domain: z.string().openapi({
      description: "Where bounces come back: use an envelope sender (return_path) at this domain. The SPF record belongs here.",
      example: "shop.example",
    }),
    created_at: z.string().openapi({ format: "date-time" }),
    dkim_keys: z.array(
      z.object({
        selector: z.string().openapi({ example: "hk202611a3f9" }),
        algorithm: Algorithm,
        state: z
          .enum(["pending", "active", "retired"])
          .openapi({ description: "pending: record not yet found; active: signs; retired: replaced by a newer key." }),
        created_at: z.string(),
        verified_at: z.string().nullable(),
        retired_at: z.string().nullable(),
      }),
    ),
    records: z.array(DnsRecordSchema).openapi({ description: "The DNS records to publish." }),
  })
  .openapi("Domain");

export const DOMAIN_EXAMPLE = {
  domain: "shop.example",
  unicode: "shop.example",
  status: "pending",
  signing: false,
  sign_before_verify: false,
  return_path_domain: "shop.example",
  created_at: "2026-11-27T09:00:00.000Z",
  dkim_keys: [
    { selector: "hk202611a3f9", algorithm: "rsa-sha256", state: "pending", created_at: "2026-11-27T09:00:00.000Z", verified_at: null, retired_at: null },
  ],
  records: [
    {
      purpose: "dkim",
      type: "TXT",
      name: "hk202611a3f9._domainkey.shop.example",
      value: "v=DKIM1; k=rsa; p=MIIBIjANBgkqh…",
      strings: ["v=DKIM1; k=rsa; p=MIIBIjANBgkqh…"],
      required: true,
      selector: "hk202611a3f9",
      algorithm: "rsa-sha256",
    },
    {
      purpose: "spf",
      type: "TXT",
      name: "shop.example",
      value: "v=spf1 include:_spf.hikyaku.example ~all",
      strings: ["v=spf1 include:_spf.hikyaku.example ~all"],
      required: false,
    },
  ],
};

const domainContent = { "application/json": { schema: DomainSchema, example: DOMAIN_EXAMPLE } };

export const DomainParam = z.object({ domain: z.string().openapi({ param: { name: "domain", in: "path" }, example: "shop.example" }) });

export function domainView(d: DomainRow, keys: KeyRow[], config: Config): z.infer<typeof DomainSchema> {
  const active = keys.some((k) => k.state === "active");
  const iso = (t: Date | null) => (t ? t.toISOString() : null);
  return {
    domain: d.domain,
    unicode: unicodeName(d.domain),
    status: keys.some((k) => k.state === "active" && k.algorithm === "rsa-sha256") ? "active" : "pending",
    signing: active || (d.sign_before_verify && keys.some((k) => k.state === "pending")),
    sign_before_verify: d.sign_before_verify,
    return_path_domain: d.domain,
    created_at: d.created_at.toISOString(),
    dkim_keys: keys.map((k) => ({
      selector: k.selector,
      algorithm: k.algorithm,
      state: k.state,
      created_at: k.created_at.toISOString(),
      verified_at: iso(k.verified_at),
      retired_at: iso(k.retired_at),
    })),
    records: dnsRecords(
      d.domain,
      keys.map((k) => ({ selector: k.selector, algorithm: k.algorithm, publicKey: k.public_key, state: k.state })),
      config,
    ),
  };
}

/** The account's domain named in the path, or 404 (unknown and another account's alike). */
export async function domainFromPath(deps: { db: Db }, accountId: string, param: string): Promise<DomainRow> {
  const name = lookupName(param);
  const row = name ? await findDomain(deps.db, accountId, name) : undefined;
  if (!row) throw new AppError("not_found", `No domain ${param.slice(0, 253)} in this account; register it with POST /v1/domains.`, { field: "domain" });
  return row;
}

export async function viewOf(deps: { db: Db; config: Config }, d: DomainRow) {
  return domainView(d, (await keysOf(deps.db, [d.id])).get(d.id) ?? [], deps.config);
}

const create = createRoute({
  method: "post",
  path: "/v1/domains",
  operationId: "createDomain",
  tags: ["Domains"],
  summary: "Register a sending domain",
  description:
    "Generates the domain's DKIM keys (RSA-2048, plus Ed25519 for a second signature) under a dated selector and answers with the DNS records to publish. Then call verify.",
  security: bearerAuth,
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({
            domain: z.string().max(300).openapi({ description: "The domain in your From addresses; an IDN may be given in Unicode.", example: "shop.example" }),
            sign_before_verify: z.boolean().optional().openapi({ description: "Sign at once, before the DKIM record is found (default false)." }),
          }),
          example: { domain: "shop.example" },
        },
      },
    },
  },
  responses: {
    201: { description: "Registered; publish `records`.", content: domainContent },
    ...errorResponses(401, 409, 422),
  },
});

const list = createRoute({
  method: "get",
  path: "/v1/domains",
  operationId: "listDomains",
  tags: ["Domains"],
  summary: "List sending domains",
  description: "The account's domains in name order, with their keys and the DNS records to publish.",
  security: bearerAuth,
  request: { query: z.object({ limit: limitParam(100, 100), cursor: CursorParam }) },
  responses: {
    200: {
      description: "Domains in name order.",
      content: { "application/json": { schema: page(DomainSchema, "DomainList"), example: { data: [DOMAIN_EXAMPLE], next_cursor: null } } },
    },
    ...errorResponses(401, 422),
  },
});

const get = createRoute({
  method: "get",
  path: "/v1/domains/{domain}",
  operationId: "getDomain",
  tags: ["Domains"],
  summary: "Get a sending domain",
  description: "The domain, its DKIM keys and the DNS records to publish. Another account's domain answers 404.",
  security: bearerAuth,
  request: { params: DomainParam },
  responses: { 200: { description: "The domain.", content: domainContent }, ...errorResponses(401, 404) },
});

const patch = createRoute({
  method: "patch",
  path: "/v1/domains/{domain}",
  operationId: "updateDomain",
  tags: ["Domains"],
  summary: "Change a sending domain's settings",
  description: "Turns signing before verification on or off.",
  security: bearerAuth,
  request: {
    params: DomainParam,
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({ sign_before_verify: z.boolean().openapi({ description: "Sign before the DKIM record is found." }) }),
          example: { sign_before_verify: true },
        },
      },
    },
  },
  responses: { 200: { description: "The domain.", content: domainContent }, ...errorResponses(401, 404, 422) },
});

const remove = createRoute({
  method: "delete",
  path: "/v1/domains/{domain}",
  operationId: "deleteDomain",
  tags: ["Domains"],
  summary: "Delete a sending domain",
  description: "Its keys are destroyed and mail From it is no longer signed (other service processes stop within a minute).",
  security: bearerAuth,
  request: { params: DomainParam },
  responses: { 204: { description: "Deleted." }, ...errorResponses(401, 404) },
});

export const domains = router()
  .openapi(create, async (c) => {
    const body = c.req.valid("json");
    const deps = c.get("deps");
    const row = await createDomain(deps, c.get("account").id, checkDomainName(body.domain), body.sign_before_verify ?? false);
    return c.json(await viewOf(deps, row), 201);
  })
  .openapi(list, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const deps = c.get("deps");
    const rows = await listDomains(deps.db, c.get("account").id, limit + 1, cursor);
    const page = rows.slice(0, limit);
    const keys = await keysOf(
      deps.db,
      page.map((d) => d.id),
    );
    const data = page.map((d) => domainView(d, keys.get(d.id) ?? [], deps.config));
    return c.json({ data, next_cursor: rows.length > limit ? (page[page.length - 1]?.domain ?? null) : null }, 200);
  })
  .openapi(get, async (c) => {
    const deps = c.get("deps");
    const row = await domainFromPath(deps, c.get("account").id, c.req.valid("param").domain);
    return c.json(await viewOf(deps, row), 200);
  })
  .openapi(patch, async (c) => {
    const deps = c.get("deps");
    const accountId = c.get("account").id;
    const found = await domainFromPath(deps, accountId, c.req.valid("param").domain);
    const row = (await setSignBeforeVerify(deps.db, accountId, found.domain, c.req.valid("json").sign_before_verify)) ?? found;
    return c.json(await viewOf(deps, row), 200);
  })
  .openapi(remove, async (c) => {
    const deps = c.get("deps");
    const accountId = c.get("account").id;
    const row = await domainFromPath(deps, accountId, c.req.valid("param").domain);
    await deleteDomain(deps.db, accountId, row.domain);
    return c.body(null, 204);
  });
