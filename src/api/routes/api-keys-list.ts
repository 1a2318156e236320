// GET /v1/api-keys: the account's active keys, to tell them apart and see which are still
// used before revoking one. Only the public prefix is shown: the secret is kept only as a hash.
import { createRoute, z } from "@hono/zod-openapi";
import { listKeys } from "../../accounts/accounts.ts";
import { AppError } from "../../errors.ts";
import { isUuid } from "../../util/ids.ts";
import { router } from "../context.ts";
import { bearerAuth, CursorParam, errorResponses, limitParam, page } from "../openapi-parts.ts";

const ApiKeySchema = z
  .object({
    id: z.string().openapi({ example: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e" }),
    prefix: z.string().openapi({ description: "The start of the key, as shown when it was created.", example: "hk_3f9a1c2e" }),
    name: z.string().nullable().openapi({ example: "deploy 2026-11" }),
    created_at: z.string().openapi({ example: "2026-11-27T09:00:00.000Z" }),
    last_used_at: z
      .string()
      .nullable()
      .openapi({ description: "When the key last authenticated a request (to a minute); null: never.", example: "2026-11-27T12:34:00.000Z" }),
  })
  .openapi("ApiKey");

const route = createRoute({
  method: "get",
  path: "/v1/api-keys",
  operationId: "listApiKeys",
  tags: ["API keys"],
  summary: "List API keys",
  description: "The account's active keys, oldest first. The secret itself is never shown again after creation.",
  security: bearerAuth,
  request: { query: z.strictObject({ limit: limitParam(100, 100), cursor: CursorParam }) },
  responses: {
    200: {
      description: "A page of keys.",
      content: {
        "application/json": {
          schema: page(ApiKeySchema, "ApiKeyList"),
          example: {
            data: [
              {
                id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e",
                prefix: "hk_3f9a1c2e",
                name: "default",
                created_at: "2026-11-27T09:00:00.000Z",
                last_used_at: null,
              },
            ],
            next_cursor: null,
          },
        },
      },
    },
    ...errorResponses(401, 422),
  },
});

export const apiKeysList = router().openapi(route, async (c) => {
  const { limit, cursor } = c.req.valid("query");
  if (cursor !== undefined && !isUuid(cursor))
    throw new AppError("validation_error", "cursor is not one this API gave out; pass next_cursor unchanged.", { field: "cursor" });
  const rows = await listKeys(c.get("deps").db, c.get("account").id, limit + 1, cursor);
  const keys = rows.slice(0, limit);
  const data = keys.map((k) => ({ ...k, created_at: k.created_at.toISOString(), last_used_at: k.last_used_at?.toISOString() ?? null }));
  return c.json({ data, next_cursor: rows.length > limit ? (keys[keys.length - 1]?.id ?? null) : null }, 200);
});
