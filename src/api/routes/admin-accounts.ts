// Operator routes (HIKYAKU_ADMIN_TOKEN): create an account and hand out its first key;
// set its monthly quota and the time zone its usage months are counted in.
import { createRoute, z } from "@hono/zod-openapi";
import { createAccount, updateAccountSettings } from "../../accounts/accounts.ts";
import { AppError } from "../../errors.ts";
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
    body: {
      required: true,
      content: { "application/json": { schema: z.strictObject({ name: z.string().min(1).max(200).openapi({ example: "Shibuya City" }) }) } },
    },
  },
  responses: {
    201: {
      description: "The account and its first API key.",
      content: {
        "application/json": {
          schema: z
            .object({ account: z.object({ id: z.string(), name: z.string(), created_at: z.string() }), api_key: CreatedKeySchema })
            .openapi("CreatedAccount"),
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

const AccountSettingsSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    monthly_quota: z.number().int().nullable().openapi({ description: "Messages included per month; null: unlimited.", example: 10000 }),
    time_zone: z.string().openapi({ description: "IANA time zone in which usage months are counted.", example: "Asia/Tokyo" }),
  })
  .openapi("AccountSettings");

const patchRoute = createRoute({
  method: "patch",
  path: "/v1/admin/accounts/{id}",
  tags: ["Admin"],
  summary: "Set an account's monthly quota and time zone (operator)",
  description:
    "The quota is what GET /v1/usage measures overage against. The time zone decides where a usage month begins; a change applies to messages counted from now on.",
  security: [{ admin: [] }],
  request: {
    params: z.object({ id: z.string().openapi({ description: "The account id." }) }),
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({
            monthly_quota: z.number().int().min(0).max(2_000_000_000).nullable().optional().openapi({ description: "null: unlimited.", example: 10000 }),
            time_zone: z.string().min(1).max(64).optional().openapi({ description: "An IANA time zone name.", example: "Asia/Tokyo" }),
          }),
        },
      },
    },
  },
  responses: {
    200: { description: "The account's settings after the change.", content: { "application/json": { schema: AccountSettingsSchema } } },
    ...errorResponses(401, 404, 422),
  },
});

export const adminAccountsPatch = router().openapi(patchRoute, async (c) => {
  const { id } = c.req.valid("param");
  const body = c.req.valid("json");
  const account = await updateAccountSettings(c.get("deps").db, id, body);
  if (!account) throw new AppError("not_found", `No account has the id ${id}.`);
  return c.json(account, 200);
});
