// An account's own API keys: create another (for rotation) and revoke one.
import { createRoute, z } from "@hono/zod-openapi";
import { createKey, revokeKey } from "../../accounts/accounts.ts";
import { AppError } from "../../errors.ts";
import { isUuid } from "../../util/ids.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { CREATED_KEY_EXAMPLE, CreatedKeySchema } from "./admin-accounts.ts";

const create = createRoute({
  method: "post",
  path: "/v1/api-keys",
  operationId: "createApiKey",
  tags: ["API keys"],
  summary: "Create another API key",
  description: "For rotation: create the new key, deploy it, then revoke the old one. The secret is shown only in this answer.",
  security: bearerAuth,
  request: {
    body: {
      required: false,
      content: {
        "application/json": {
          schema: z.strictObject({ name: z.string().max(100).optional().openapi({ description: "A label to tell keys apart.", example: "deploy 2026-11" }) }),
          example: { name: "deploy 2026-11" },
        },
      },
    },
  },
  responses: {
    201: { description: "The new key, shown once.", content: { "application/json": { schema: CreatedKeySchema, example: CREATED_KEY_EXAMPLE } } },
    ...errorResponses(401, 422),
  },
});

const revoke = createRoute({
  method: "delete",
  path: "/v1/api-keys/{id}",
  operationId: "revokeApiKey",
  tags: ["API keys"],
  summary: "Revoke an API key",
  description: "The key stops working at once in this process and within two seconds in the others. Revoking the key that makes this request is allowed.",
  security: bearerAuth,
  request: { params: z.object({ id: z.string().openapi({ param: { name: "id", in: "path" }, example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }) }) },
  responses: { 204: { description: "Revoked." }, ...errorResponses(401, 404) },
});

export const apiKeys = router()
  .openapi(create, async (c) => {
    const body = c.req.header("content-length") === "0" ? {} : ((await c.req.json().catch(() => ({}))) as { name?: string });
    const key = await createKey(c.get("deps").db, c.get("account").id, body.name);
    return c.json(key, 201);
  })
  .openapi(revoke, async (c) => {
    const { id } = c.req.valid("param");
    const ok = isUuid(id) && (await revokeKey(c.get("deps").db, id, c.get("account").id));
    if (!ok) throw new AppError("not_found", `No active API key ${id} in this account.`, { field: "id" });
    return c.body(null, 204);
  });
