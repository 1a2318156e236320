// The API rate limit as the client sees it: every authenticated /v1 request (a batch
// call too) counts once against its account, and every answer carries RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset; a refused one is a 429 with Retry-After.
import type { Context } from "hono";
import { AppError } from "../errors.ts";
import type { ApiDeps, ApiEnv } from "./context.ts";
import { RateLimiter } from "./rate-limiter.ts";

export function rateLimit(deps: ApiDeps): (c: Context<ApiEnv>) => Promise<void> {
  const limiter = new RateLimiter(deps.db, deps.config.HIKYAKU_API_RATE_WINDOW_SECONDS);
  return async (c) => {
    const account = c.get("account");
    const v = await limiter.take(account.id, account.apiRateLimit ?? deps.config.HIKYAKU_API_RATE_LIMIT);
    // Set before the response exists (see the request-id middleware in app.ts).
    c.header("RateLimit-Limit", String(v.limit));
    c.header("RateLimit-Remaining", String(v.remaining));
    c.header("RateLimit-Reset", String(v.resetSeconds));
    if (v.allowed) return;
    c.header("Retry-After", String(v.resetSeconds));
    throw new AppError(
      "rate_limited",
      `This account made its ${v.limit} API requests of the current ${deps.config.HIKYAKU_API_RATE_WINDOW_SECONDS}-second window; retry in ${v.resetSeconds} s (Retry-After).`,
    );
  };
}
