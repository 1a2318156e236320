// The pieces of the OpenAPI contract every route describes the same way: error responses
// (one Error schema, the codes each status can carry), pagination, and security.
import { z } from "@hono/zod-openapi";
import { type ErrorCode, errorTable } from "../errors.ts";
import { ErrorSchema } from "./schemas.ts";

export const bearerAuth = [{ bearer: [] }];
export const adminAuth = [{ admin: [] }];
/** Health checks answer anyone: an explicit empty requirement, not a forgotten one. */
export const noAuth: { [name: string]: string[] }[] = [];

const statusText: Record<number, string> = {
  400: "Malformed request: the body is not JSON, or not sent as `application/json`.",
  401: "Missing, unknown or revoked credentials.",
  404: "Not found, or owned by another account (the two answer alike).",
  409: "Conflict with the current state.",
  413: "The request body or message is too large.",
  422: "A field is invalid; `error.field` names it and `error.message` says what to change.",
  429: "The account's API rate limit is reached; retry after `Retry-After` seconds (the `RateLimit-*` headers tell the budget).",
  503: "The service cannot reach its database; nothing was stored. Retry with backoff.",
};

const example: Record<number, { code: ErrorCode; message: string; field?: string }> = {
  400: { code: "invalid_json", message: "The request body is not valid JSON." },
  401: { code: "unauthorized", message: "Send a valid API key as `Authorization: Bearer <key>`; this one is missing, unknown or revoked." },
  404: { code: "not_found", message: "No message 01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e in this account.", field: "id" },
  409: { code: "conflict", message: "The message has nothing left to cancel: every recipient is final." },
  413: { code: "message_too_large", message: "The message is 10485761 bytes; the limit is 10485760 bytes.", field: "raw" },
  422: { code: "validation_error", message: 'to: "bob" is not a valid email address.', field: "to" },
  429: { code: "rate_limited", message: "This account made 6000 requests in this 60-second window; retry in 12 s." },
  503: { code: "unavailable", message: "The service cannot reach its database right now; nothing was stored. Retry shortly." },
};

/** The error codes an HTTP status can carry: read from the one error table. */
export const codesFor = (status: number): ErrorCode[] => (Object.keys(errorTable) as ErrorCode[]).filter((c) => errorTable[c].http === status);

/** One error response: the shared Error schema, the codes it can carry, and an example body. */
export function errorResponse(status: number) {
  const codes = codesFor(status);
  const e = example[status] ?? { code: codes[0] ?? "internal", message: "See error.message." };
  return {
    description: `${statusText[status] ?? "Error."} Codes: ${codes.map((c) => `\`${c}\``).join(", ")}.`,
    content: { "application/json": { schema: ErrorSchema, example: { error: { ...e, request_id: "req_0193a1b2c3d4e5f6a7b8c9d0e1f2a3b4" } } } },
  };
}

/** The error responses of an operation; 503 is added to every one that reads the database. */
export const errorResponses = (...statuses: number[]) => Object.fromEntries([...new Set([...statuses, 503])].map((s) => [s, errorResponse(s)]));

/** The shared `cursor` query parameter (a reusable component, the same on every list). */
export const CursorParam = z
  .string()
  .max(300)
  .optional()
  .openapi("Cursor", {
    param: { name: "cursor", in: "query" },
    description: "Opaque position from the previous page's `next_cursor`; leave out for the first page. Pass it unchanged.",
    example: "djI6MTIzNDU2OjQ1Ng",
  });

/** The `limit` query parameter: the same words everywhere, only the bounds differ per list. */
export const limitParam = (max: number, fallback: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(max)
    .default(fallback)
    .openapi({ param: { name: "limit", in: "query" }, description: `Page size, 1-${max} (default ${fallback}).`, example: fallback });

const NextCursor = z.string().nullable().openapi({
  description: "Pass as `cursor` to read the next page; null on the last page.",
  example: null,
});

/** A list page, `{ data, next_cursor }`, as every list answers. */
export const page = <T extends z.ZodType>(item: T, name: string) => z.object({ data: z.array(item), next_cursor: NextCursor }).openapi(name);
