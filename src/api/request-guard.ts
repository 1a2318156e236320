// Refuses, before any route sees it, what no route could store: a body that is not JSON,
// JSON nested deeper than anything the API takes (which would overflow the stack of
// every later JSON.stringify), and text PostgreSQL cannot hold (NUL, lone surrogates)
// anywhere in the body or the query string. One guard, so a new route cannot forget it.
import type { HonoRequest, MiddlewareHandler } from "hono";
import { AppError } from "../errors.ts";
import { type ApiEnv, formatPath } from "./context.ts";

/** The deepest JSON any route takes is a few levels; metadata is the caller's own. */
export const MAX_JSON_DEPTH = 32;

const JSON_TYPE = /^application\/json\s*(;|$)/i;
/** NUL, or a UTF-16 surrogate without its other half: text neither UTF-8 nor PostgreSQL can hold. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const guardRequest: MiddlewareHandler<ApiEnv> = async (c, next) => {
  for (const [name, values] of Object.entries(c.req.queries())) {
    if (UNSTORABLE.test(name)) throw unstorable("", "a query parameter's name");
    if (values.some((v) => UNSTORABLE.test(v))) throw unstorable(fieldName([name]), "its value");
  }
  if (hasBody(c.req.header("content-length"), c.req.header("transfer-encoding"))) {
    // hono's Node adapter hands no GET or HEAD body over: refused, rather than read as empty.
    if (c.req.method === "GET" || c.req.method === "HEAD") {
      throw new AppError("malformed_request", `A ${c.req.method} request takes no body; send its parameters in the query string.`);
    }
    if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) throw notJson();
    const { text, body } = await parseBody(c.req);
    if (mayHideProblems(text)) checkJson(body);
  }
  await next();
};

export function notJson(cause?: unknown): AppError {
  return new AppError("unsupported_media_type", "Send the request body as JSON, with the header `Content-Type: application/json`.", {
    field: "Content-Type",
    cause,
  });
}

function hasBody(length: string | undefined, transferEncoding: string | undefined): boolean {
  return transferEncoding !== undefined || (length !== undefined && length !== "0");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The body as JSON; JSON text must be UTF-8 (RFC 8259), so other bytes are refused, not replaced. */
async function parseBody(req: HonoRequest): Promise<{ text: string; body: unknown }> {
  let text: string;
  try {
    text = utf8.decode(await req.arrayBuffer());
  } catch (err) {
    throw new AppError("invalid_json", "The request body is not UTF-8 text; send JSON encoded as UTF-8.", { cause: err });
  }
  // hono's own cache: the route's validator (and the refused-send log) read this text.
  // At run time the cache holds promises, whatever its declared type says.
  req.bodyCache.text = Promise.resolve(text) as unknown as string;
  try {
    return { text, body: JSON.parse(text) };
  } catch (err) {
    throw new AppError("invalid_json", `The request body is not valid JSON (${(err as Error).message}).`, { cause: err });
  }
}

/**
 * Whether the parsed body could hold what checkJson looks for; most bodies cannot, and
 * skip its walk (about a twentieth of the API's CPU per send). The text is valid UTF-8
 * and valid JSON, so a NUL or a lone surrogate in a string can only come from a \u
 * escape; and a body with no more brackets than MAX_JSON_DEPTH cannot nest deeper.
 */
function mayHideProblems(text: string): boolean {
  if (text.includes("\\u")) return true;
  let brackets = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c === 0x7b || c === 0x5b) && ++brackets > MAX_JSON_DEPTH) return true;
  }
  return false;
}

/** Walks the parsed body without recursion, so no depth of nesting can overflow the stack. */
function checkJson(body: unknown): void {
  const stack: { value: unknown; path: PropertyKey[] }[] = [{ value: body, path: [] }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { value, path } = item;
    if (typeof value === "string") {
      if (UNSTORABLE.test(value)) throw unstorable(fieldName(path), "its value");
    } else if (value !== null && typeof value === "object") {
      if (path.length >= MAX_JSON_DEPTH) {
        const field = fieldName(path.slice(0, 1));
        throw new AppError(
          "validation_error",
          `${field || "The request body"} nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep.`,
          field ? { field } : {},
        );
      }
      if (Array.isArray(value)) {
        for (const [i, v] of value.entries()) stack.push({ value: v, path: [...path, i] });
      } else
        for (const [k, v] of Object.entries(value)) {
          if (UNSTORABLE.test(k)) throw unstorable(fieldName(path), "a key in it");
          stack.push({ value: v, path: [...path, k] });
        }
    }
  }
}

function unstorable(field: string, what: string): AppError {
  return new AppError(
    "validation_error",
    `${field || "The request"}: ${what} contains a NUL character or an unpaired UTF-16 surrogate (\\ud800-\\udfff without its other half), which cannot be stored; remove it.`,
    field ? { field } : {},
  );
}

/** The field as route validation spells it, cut short: keys may be of any length. */
function fieldName(path: PropertyKey[]): string {
  const name = formatPath(path);
  return name.length > 200 ? `${name.slice(0, 200)}…` : name;
}
