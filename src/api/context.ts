// What every route handler can reach: the database, the configuration, and (on /v1
// routes) the authenticated account.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Account } from "../accounts/accounts.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";

export interface ApiDeps {
  db: Db;
  config: Config;
}

export type ApiEnv = { Variables: { account: Account; requestId: string; deps: ApiDeps } };

/** A router whose validation failures become our error body, naming the field. */
export function router(): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const issue = result.error.issues[0];
      const field = issue ? issue.path.map(String).join(".") : undefined;
      throw validationError(issue, field);
    },
  });
}

function validationError(issue: { code: string; message: string; keys?: string[] } | undefined, field?: string): AppError {
  if (!issue) return new AppError("validation_error", "The request is not valid.");
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys ?? [];
    const where = field ? `${field}.` : "";
    return new AppError("validation_error", `Unknown field ${keys.map((k) => `"${where}${k}"`).join(", ")}: check the spelling against the API reference.`, {
      field: `${where}${keys[0] ?? ""}`,
    });
  }
  return new AppError("validation_error", `${field || "The request"}: ${issue.message}`, field ? { field } : {});
}
