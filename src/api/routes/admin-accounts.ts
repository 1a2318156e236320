// Operator routes (HIKYAKU_ADMIN_TOKEN): create an account and hand out its first key.
import { createRoute, z } from "@hono/zod-openapi";
import { createAccount } from "../../accounts/accounts.ts";
import { router } from "../context.ts";
import { errorResponses } from "../schemas.ts";

export const CreatedKeySchema = z
  .object({
    id: z.string(),
    key: z.string().openapi({ description: "The secret; shown only this once. Send it as `Authorization: Bearer <key>`.", example: "hk_1a2b3c4d_..." }),
    prefix: z.string().openapi({ description: "The key's public prefix, shown in listings." }),
  })
  .openapi("CreatedApiKey");

const route = createRoute({
  method: "post",
  path: "/v1/admin/accounts",
  tags: ["Admin"],
  summary: "Create an account (operator)",
  security: [{ admin: [] }],
  request: {
    body: { required: true, content: { "application/json": { schema: z.strictObject({ name: z.string().min(1).max(200).openapi({ example: "Shibuya City" }) }) } } },
  },
  responses: {
    201: {
      description: "The account and its first API key.",
      content: {
        "application/json": {
          schema: z.object({ account: z.object({ id: z.string(), name: z.string(), created_at: z.string() }), api_key: CreatedKeySchema }).openapi("CreatedAccount"),
        },
      },
    },
    ...errorResponses(401, 422),
  },
});

export const adminAccounts = router().openapi(route, async (c) => {
  const { name } = c.req.valid("json");
  const { account, key } = await createAccount(c.get("deps").db, name);
  return c.json({ account: { id: account.id, name: account.name, created_at: account.createdAt.toISOString() }, api_key: key }, 201);
});
