// Every route refuses a body larger than it could need, before reading it: a message
// may be as large as HIKYAKU_MAX_MESSAGE_BYTES allows, every other body is small.
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import type { ApiEnv } from "./context.ts";

/** Enough for any settings body (100 source IPs, a name, a domain) many times over. */
export const MAX_REQUEST_BYTES = 64 * 1024;

type Middleware = MiddlewareHandler<ApiEnv>;

const MESSAGE_PATHS = new Set(["/v1/messages", "/v1/messages/batch"]);

/** The one body limit of the API: the message routes' own, and MAX_REQUEST_BYTES for the rest. */
export function limitBodies(config: Config): Middleware {
  // JSON and base64 make the body up to 1.4 times the message, plus its other fields.
  const messageBody = Math.ceil(config.HIKYAKU_MAX_MESSAGE_BYTES * 1.4) + 64 * 1024;
  const message = limitBody(
    messageBody,
    () => new AppError("message_too_large", `The request body is larger than a ${config.HIKYAKU_MAX_MESSAGE_BYTES}-byte message allows.`),
  );
  const other = limitBody(
    MAX_REQUEST_BYTES,
    () => new AppError("request_too_large", `The request body is larger than the ${MAX_REQUEST_BYTES} bytes this route takes.`),
  );
  // A whole batch may be no larger than one message of the size limit.
  return (c, next) => (c.req.method === "POST" && MESSAGE_PATHS.has(c.req.path) ? message(c, next) : other(c, next));
}

/**
 * Refuses a body over `maxSize`. With a Content-Length (what every client sends for a
 * JSON body) the header decides, and Node's parser never hands over more bytes than it
 * names; hono's bodyLimit, which counts a chunked body as it streams, is kept for bodies
 * without one. (bodyLimit turns every request into a full WHATWG Request with its own
 * AbortController and body stream: about a tenth of the API's CPU per send.)
 */
function limitBody(maxSize: number, tooLarge: () => AppError): Middleware {
  const streaming = bodyLimit({
    maxSize,
    onError: () => {
      throw tooLarge();
    },
  });
  return async (c, next) => {
    const length = c.req.header("content-length");
    if (length === undefined) return c.req.header("transfer-encoding") ? streaming(c, next) : next();
    // Node's parser has already refused a Content-Length that is not one decimal number.
    if (!/^\d{1,15}$/.test(length) || Number(length) > maxSize) throw tooLarge();
    await next();
  };
}
