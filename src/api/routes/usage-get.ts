// GET /v1/usage: what the account used in a month, against its quota, and what the
// overage costs.
import { createRoute, z } from "@hono/zod-openapi";
import { AppError } from "../../errors.ts";
import { monthlyUsage } from "../../logs/usage.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";

const count = (description: string, example: number) => z.number().int().openapi({ description, example });

export const UsageSchema = z
  .object({
    month: z.string().openapi({ description: "The month (YYYY-MM), counted in the account's time zone.", example: "2026-11" }),
    time_zone: z.string().openapi({ description: "The account's time zone (set by the operator; UTC unless set).", example: "Asia/Tokyo" }),
    messages_accepted: count("Messages accepted (HTTP and SMTP). Bounce notices Hikyaku sends are not counted.", 12034),
    recipients_accepted: count("Recipients of those messages.", 15210),
    delivered: count("Recipients delivered in the month.", 15002),
    bounced: count("Recipients bounced in the month.", 150),
    expired: count("Recipients whose lifetime passed in the month.", 12),
    monthly_quota: z.number().int().nullable().openapi({ description: "Messages included per month; null: unlimited.", example: 10000 }),
    overage: count("Messages accepted beyond the quota.", 2034),
    overage_price_jpy: z.number().openapi({ description: "Price per message beyond the quota, in JPY.", example: 0.15 }),
    overage_charge_jpy: z.number().openapi({ description: "overage x overage_price_jpy, in JPY.", example: 305.1 }),
  })
  .openapi("Usage");

const route = createRoute({
  method: "get",
  path: "/v1/usage",
  operationId: "getUsage",
  tags: ["Usage"],
  summary: "Monthly usage, quota and overage",
  description: "From durable counters that outlive the 31-day log retention. A month is counted in the account's time zone (UTC unless the operator sets one).",
  security: bearerAuth,
  request: {
    query: z.strictObject({
      month: z.string().optional().openapi({ description: "YYYY-MM; default: the current month in the account's time zone.", example: "2026-11" }),
    }),
  },
  responses: {
    200: {
      description: "The month's usage.",
      content: {
        "application/json": {
          schema: UsageSchema,
          example: {
            month: "2026-11",
            time_zone: "Asia/Tokyo",
            messages_accepted: 12034,
            recipients_accepted: 15210,
            delivered: 15002,
            bounced: 150,
            expired: 12,
            monthly_quota: 10000,
            overage: 2034,
            overage_price_jpy: 0.15,
            overage_charge_jpy: 305.1,
          },
        },
      },
    },
    ...errorResponses(401, 422),
  },
});

export const usageGet = router().openapi(route, async (c) => {
  const { month } = c.req.valid("query");
  if (month !== undefined && !/^\d{4}-(0[1-9]|1[0-2])$/.test(month)) {
    throw new AppError("validation_error", "month must be a month like 2026-11 (YYYY-MM).", { field: "month" });
  }
  const { db, config } = c.get("deps");
  const usage = await monthlyUsage(db, c.get("account").id, month, config.HIKYAKU_OVERAGE_PRICE_JPY);
  if (!usage) throw new AppError("not_found", "This API key's account no longer exists.");
  return c.json(usage, 200);
});
