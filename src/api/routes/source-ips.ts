// GET/PUT /v1/source-ips: the addresses allowed to relay on the SMTP relay port without
// logging in. The IP names the account, so an IP belongs to one account only.
import { createRoute, z } from "@hono/zod-openapi";
import { getSourceIps, MAX_SOURCE_IPS, replaceSourceIps } from "../../smtp/source-ips.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";

const SourceIps = z
  .object({
    ips: z.array(z.string().max(64)).openapi({
      description: `IPv4 or IPv6 addresses, at most ${MAX_SOURCE_IPS}. IPv4-mapped IPv6 (::ffff:a.b.c.d) is stored as IPv4, IPv6 in its compressed form.`,
      example: ["203.0.113.25", "2001:db8::25"],
    }),
  })
  .openapi("SourceIps");

const get = createRoute({
  method: "get",
  path: "/v1/source-ips",
  operationId: "getSourceIps",
  tags: ["SMTP"],
  summary: "List the source IPs allowed to relay",
  description: "The addresses whose mail the relay port accepts for this account without a login.",
  security: bearerAuth,
  responses: {
    200: { description: "The account's source IPs.", content: { "application/json": { schema: SourceIps, example: { ips: ["203.0.113.25"] } } } },
    ...errorResponses(401),
  },
});

const put = createRoute({
  method: "put",
  path: "/v1/source-ips",
  operationId: "replaceSourceIps",
  tags: ["SMTP"],
  summary: "Replace the source IPs allowed to relay",
  description: `Replaces the whole list (an empty list removes them all). At most ${MAX_SOURCE_IPS} addresses; an address already registered by another account answers 409 and changes nothing.`,
  security: bearerAuth,
  request: {
    body: {
      required: true,
      content: {
        "application/json": { schema: z.strictObject({ ips: z.array(z.string().max(64)).max(100) }), example: { ips: ["203.0.113.25", "2001:db8::25"] } },
      },
    },
  },
  responses: {
    200: { description: "The list as stored.", content: { "application/json": { schema: SourceIps, example: { ips: ["203.0.113.25", "2001:db8::25"] } } } },
    ...errorResponses(401, 409, 422),
  },
});

export const sourceIps = router()
  .openapi(get, async (c) => c.json({ ips: await getSourceIps(c.get("deps").db, c.get("account").id) }, 200))
  .openapi(put, async (c) => {
    const { ips } = c.req.valid("json");
    return c.json({ ips: await replaceSourceIps(c.get("deps").db, c.get("account").id, ips) }, 200);
  });
