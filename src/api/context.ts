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
  /** What is wrong with the embedded PostgreSQL, when it is down (for /readyz). */
  databaseProblem?: () => string | undefined;
}

export type ApiEnv = { Variables: { account: Account; requestId: string; deps: ApiDeps } };

/** A router whose validation failures become our error body, naming the field. */
export function router(): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      throw validationFailure(result.error.issues);
    },
  });
}

/** The error a failed zod parse answers with: the first issue, naming its field. Batch items use it too. */
export function validationFailure(zodIssues: readonly unknown[]): AppError {
  // A misspelt key also makes the real one "missing": name the misspelling first.
  const issues = zodIssues as Issue[];
  const first = issues.find((i) => i.code === "unrecognized_keys") ?? issues[0];
  if (!first) return new AppError("validation_error", "The request is not valid.");
  const { issue, path } = unwrapUnion(first);
  return validationError(issue, path.length ? formatPath(path) : undefined);
}

interface Issue {
  code: string;
  message: string;
  path: PropertyKey[];
  keys?: string[];
  expected?: string;
  errors?: Issue[][];
}

/** `to[1].email`: the same spelling the handlers use for fields inside lists. */
export function formatPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

/**
 * Zod reports a failed union (an address as a string or an object, one or a list) as
 * one "Invalid input" holding every branch's issues. Find the branch the input was
 * meant for, so the error names e.g. `to[1].emial` instead of just `to`.
 */
function unwrapUnion(issue: Issue, prefix: PropertyKey[] = []): { issue: Issue; path: PropertyKey[] } {
  const path = [...prefix, ...issue.path];
  if (issue.code !== "invalid_union" || !issue.errors) return { issue, path };
  const meant = issue.errors.filter((branch) => !branch.every(wrongType));
  const branch = meant.length === 1 ? meant[0] : undefined;
  if (!branch?.length) return { issue: { ...issue, message: `expected ${[...new Set(expectations(issue))].join(" or ")}` }, path };
  return unwrapUnion(branch.find((i) => i.code === "unrecognized_keys") ?? (branch[0] as Issue), path);
}

/** An issue that only says the value is not of this branch's type at all. */
const wrongType = (i: Issue): boolean =>
  i.path.length === 0 && (i.code === "invalid_type" || (i.code === "invalid_union" && (i.errors ?? []).every((b) => b.every(wrongType))));

const expectations = (i: Issue): string[] =>
  i.code === "invalid_union" ? (i.errors ?? []).flatMap((b) => b.flatMap(expectations)) : i.expected ? [i.expected] : [];

function validationError(issue: Issue, field?: string): AppError {
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys ?? [];
    const where = field ? `${field}.` : "";
    return new AppError("validation_error", `Unknown field ${keys.map((k) => `"${where}${k}"`).join(", ")}: check the spelling against the API reference.`, {
      field: `${where}${keys[0] ?? ""}`,
    });
  }
  return new AppError("validation_error", `${field || "The request"}: ${issue.message}`, field ? { field } : {});
}
