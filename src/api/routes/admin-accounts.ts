// Operator routes (HIKYAKU_ADMIN_TOKEN): create an account and hand out its first key;
// set its monthly quota and the time zone its usage months are counted in.
import { createRoute, z } from "@hono/zod-openapi";
import { createAccount, updateAccountSettings } from "../../accounts/accounts.ts";
import { AppError } from "../../errors.ts";
import { router } from "../context.ts";
import { adminAuth, errorResponses } from "../openapi-parts.ts";

export const CreatedKeySchema = z
  .object({
    id: z.string(),
    key: z.string().openapi({ description: "The secret; shown only this once. Send it as `Authorization: Bearer <key>`.", example: "hk_1a2b3c4d_..." }),
    prefix: z.string().openapi({ description: "The key's public prefix, shown in listings." }),
  })
  .openapi("CreatedApiKey");

export const CREATED_KEY_EXAMPLE = { id: "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e", key: "hk_3f9a1c2e_q8Vn0c…", prefix: "hk_3f9a1c2e" };

const route = createRoute({
  method: "post",
  path: "/v1/admin/accounts",
  operationId: "createAccount",
  tags: ["Admin"],
  summary: "Create an account (operator)",
  description: "Creates an account and its first API key, shown only in this answer. The same as `hikyaku accounts create`.",
  security: adminAuth,
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({ name: z.string().min(1).max(200).openapi({ example: "Shibuya City" }) }),
          example: { name: "Shibuya City" },
        },
      },
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
          example: {
            account: { id: "01936c2e-0000-7b3c-9d1e-2f3a4b5c6d7e", name: "Shibuya City", created_at: "2026-11-27T09:00:00.000Z" },
            api_key: CREATED_KEY_EXAMPLE,
          },
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

export const AccountSettingsSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    monthly_quota: z.number().int().nullable().openapi({ description: "Messages included per month; null: unlimited.", example: 10000 }),
    time_zone: z.string().openapi({ description: "IANA time zone in which usage months are counted.", example: "Asia/Tokyo" }),
    suppression_list: z.boolean().openapi({ description: "Hard bounces (5.1.x) add the recipient to the suppression list (GET /v1/suppressions)." }),
    api_rate_limit: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "API requests per rate-limit window; null: the service default (HIKYAKU_API_RATE_LIMIT).", example: 6000 }),
  })
  .openapi("AccountSettings");

const patchRoute = createRoute({
  method: "patch",
  path: "/v1/admin/accounts/{id}",
  operationId: "updateAccount",
  tags: ["Admin"],
  summary: "Set an account's quota, time zone, suppression list and API rate limit (operator)",
  description:
    "The quota is what GET /v1/usage measures overage against. The time zone decides where a usage month begins; a change applies to messages counted from now on.",
  security: adminAuth,
  request: {
    params: z.object({
      id: z.string().openapi({ param: { name: "id", in: "path" }, description: "The account id.", example: "01936c2e-0000-7b3c-9d1e-2f3a4b5c6d7e" }),
    }),
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z.strictObject({
            monthly_quota: z.number().int().min(0).max(2_000_000_000).nullable().optional().openapi({ description: "null: unlimited.", example: 10000 }),
            time_zone: z.string().min(1).max(64).optional().openapi({ description: "An IANA time zone name.", example: "Asia/Tokyo" }),
            suppression_list: z.boolean().optional().openapi({ description: "Turn on to let hard bounces (5.1.x) add recipients to the suppression list." }),
            api_rate_limit: z.number().int().min(1).max(100_000_000).nullable().optional().openapi({
              description: "API requests per window (HIKYAKU_API_RATE_WINDOW_SECONDS); null: back to the service default.",
              example: 6000,
            }),
          }),
          example: { monthly_quota: 10000, time_zone: "Asia/Tokyo" },
        },
      },
    },
  },
  responses: {
    200: {
      description: "The account's settings after the change.",
      content: {
        "application/json": {
          schema: AccountSettingsSchema,
          example: {
            id: "01936c2e-0000-7b3c-9d1e-2f3a4b5c6d7e",
            name: "Shibuya City",
            monthly_quota: 10000,
            time_zone: "Asia/Tokyo",
            suppression_list: false,
            api_rate_limit: null,
          },
        },
      },
    },
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
