// GET /v1/admin/accounts: every account, for operators (HIKYAKU_ADMIN_TOKEN), newest first.
import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../../errors.ts";
import { isUuid } from "../../util/ids.ts";
import { router } from "../context.ts";
import { adminAuth, CursorParam, errorResponses, limitParam, page } from "../openapi-parts.ts";

const AdminAccountSchema = z
  .object({
    id: z.string().openapi({ example: "01936c2e-0000-7b3c-9d1e-2f3a4b5c6d7e" }),
    name: z.string().openapi({ example: "Shibuya City" }),
    created_at: z.string().openapi({ example: "2026-11-27T09:00:00.000Z" }),
    monthly_quota: z.number().int().nullable().openapi({ description: "Messages included per month; null: unlimited.", example: 10000 }),
    time_zone: z.string().openapi({ example: "Asia/Tokyo" }),
    active_api_keys: z.number().int().openapi({ description: "Keys not revoked.", example: 1 }),
  })
  .openapi("AdminAccount");

const route = createRoute({
  method: "get",
  path: "/v1/admin/accounts",
  operationId: "listAccounts",
  tags: ["Admin"],
  summary: "List accounts (operator)",
  description: "Every account, newest first, with its quota, time zone and number of active API keys.",
  security: adminAuth,
  request: { query: z.strictObject({ limit: limitParam(100, 100), cursor: CursorParam }) },
  responses: {
    200: {
      description: "A page of accounts.",
      content: {
        "application/json": {
          schema: page(AdminAccountSchema, "AdminAccountList"),
          example: {
            data: [
              {
                id: "01936c2e-0000-7b3c-9d1e-2f3a4b5c6d7e",
                name: "Shibuya City",
                created_at: "2026-11-27T09:00:00.000Z",
                monthly_quota: 10000,
                time_zone: "Asia/Tokyo",
                active_api_keys: 1,
              },
            ],
            next_cursor: null,
          },
        },
      },
    },
    ...errorResponses(401, 404, 422),
  },
});

export const adminAccountsList = router().openapi(route, async (c) => {
  const { limit, cursor } = c.req.valid("query");
  if (cursor !== undefined && !isUuid(cursor))
    throw new AppError("validation_error", "cursor is not one this API gave out; pass next_cursor unchanged.", { field: "cursor" });
  const sql = c.get("deps").db.sql;
  // Account ids are UUIDv7: their order is their creation order.
  const rows = await sql<{ id: string; name: string; created_at: Date; monthly_quota: number | null; time_zone: string; active_api_keys: number }[]>`
    select a.id, a.name, a.created_at, a.monthly_quota, a.time_zone,
      (select count(*)::int from api_keys k where k.account_id = a.id and k.revoked_at is null) as active_api_keys
    from accounts a ${cursor ? sql`where a.id < ${cursor}` : sql``}
    order by a.id desc limit ${limit + 1}`;
  const accounts = rows.slice(0, limit);
  const data = accounts.map((a) => ({ ...a, created_at: a.created_at.toISOString() }));
  return c.json({ data, next_cursor: rows.length > limit ? (accounts[accounts.length - 1]?.id ?? null) : null }, 200);
});
