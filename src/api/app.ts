// The HTTP API: middleware (request id, authentication, body limit), the routes, one
// error handler that turns every failure into the one error body, and the generated
// OpenAPI document with its reference page.
import { timingSafeEqual } from "node:crypto";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { accountForKey } from "../accounts/accounts.ts";
import { AppError, errorBody } from "../errors.ts";
import { log } from "../logger.ts";
import { describeHttpSend, recordReception } from "../logs/reception.ts";
import { normaliseIp } from "../smtp/source-ips.ts";
import { uuidv7 } from "../util/ids.ts";
import type { ApiDeps, ApiEnv } from "./context.ts";
import { docsRoutes } from "./docs.ts";
import { adminAccounts, adminAccountsPatch } from "./routes/admin-accounts.ts";
import { apiKeys } from "./routes/api-keys.ts";
import { domains } from "./routes/domains.ts";
import { domainsVerify } from "./routes/domains-verify.ts";
import { health } from "./routes/health.ts";
import { logsGet } from "./routes/logs-get.ts";
import { messagesCancel } from "./routes/messages-cancel.ts";
import { messagesGet } from "./routes/messages-get.ts";
import { messagesPost } from "./routes/messages-post.ts";
import { smtpCredentials } from "./routes/smtp-credentials.ts";
import { sourceIps } from "./routes/source-ips.ts";
import { usageGet } from "./routes/usage-get.ts";
import { webhooksDelete } from "./routes/webhooks-delete.ts";
import { webhooksDeliveries } from "./routes/webhooks-deliveries.ts";
import { webhooksGet } from "./routes/webhooks-get.ts";
import { webhooksList } from "./routes/webhooks-list.ts";
import { webhooksPatch } from "./routes/webhooks-patch.ts";
import { webhooksPost } from "./routes/webhooks-post.ts";
import { webhooksReplay } from "./routes/webhooks-replay.ts";
import { webhooksRotate } from "./routes/webhooks-rotate.ts";

export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "Hikyaku API",
    version: "1.0.0",
    description:
      "Send transactional mail over HTTP (and SMTP), and prove afterwards what happened to every recipient. Authenticate with `Authorization: Bearer <API key>`.",
  },
};

export function createApp(deps: ApiDeps): OpenAPIHono<ApiEnv> {
  const app = new OpenAPIHono<ApiEnv>();
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", description: "An API key." });
  app.openAPIRegistry.registerComponent("securitySchemes", "admin", { type: "http", scheme: "bearer", description: "HIKYAKU_ADMIN_TOKEN." });

  app.use("*", async (c, next) => {
    const requestId = `req_${uuidv7().replace(/-/g, "")}`;
    c.set("requestId", requestId);
    c.set("deps", deps);
    // Before next(): every response made from this context (errors too) takes it over. Set
    // after the response exists, it would make hono rebuild that response as a full
    // WHATWG Response with a body stream, for every request.
    c.header("X-Request-Id", requestId);
    await next();
  });
  app.use("/v1/*", async (c, next) => {
    if (c.req.path.startsWith("/v1/admin/")) return adminAuth(c, next, deps);
    const header = c.req.header("authorization") ?? "";
    const key = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const account = key && key.length < 200 ? await accountForKey(deps.db, key) : undefined;
    if (!account) throw new AppError("unauthorized", "Send a valid API key as `Authorization: Bearer <key>`; this one is missing, unknown or revoked.");
    c.set("account", account);
    await next();
  });
  const maxBody = Math.ceil(deps.config.HIKYAKU_MAX_MESSAGE_BYTES * 1.4) + 64 * 1024;
  app.post("/v1/messages", requireJson, limitBody(maxBody, deps.config.HIKYAKU_MAX_MESSAGE_BYTES));

  for (const r of [
    health,
    messagesPost,
    messagesGet,
    messagesCancel,
    logsGet,
    adminAccounts,
    apiKeys,
    domains,
    domainsVerify,
    sourceIps,
    smtpCredentials,
    usageGet,
    adminAccountsPatch,
  ])
    app.route("/", r);
  for (const r of [webhooksPost, webhooksList, webhooksGet, webhooksPatch, webhooksDelete, webhooksRotate, webhooksDeliveries, webhooksReplay])
    app.route("/", r);
  app.doc31("/openapi.json", OPENAPI_INFO);
  app.route("/", docsRoutes());

  app.notFound((c) => respond(c, new AppError("not_found", `No route ${c.req.method} ${c.req.path}.`)));
  app.onError((err, c) => {
    const appErr = toAppError(err, c);
    if (c.req.method === "POST" && c.req.path === "/v1/messages") void logRefusedSend(c, appErr, deps);
    return respond(c, appErr);
  });
  return app;
}

async function adminAuth(c: Context<ApiEnv>, next: () => Promise<void>, deps: ApiDeps) {
  const token = deps.config.HIKYAKU_ADMIN_TOKEN;
  const given = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
  if (!token) throw new AppError("not_found", "The admin API is off: set HIKYAKU_ADMIN_TOKEN to turn it on.");
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  if (a.length !== b.length || !timingSafeEqual(a, b))
    throw new AppError("unauthorized", "Send the operator token as `Authorization: Bearer <HIKYAKU_ADMIN_TOKEN>`.");
  await next();
}

async function requireJson(c: Context<ApiEnv>, next: () => Promise<void>) {
  if (!/^application\/json\b/i.test(c.req.header("content-type") ?? "")) {
    throw new AppError("invalid_json", "Send the message as JSON with `Content-Type: application/json`.", { field: "Content-Type" });
  }
  await next();
}

const tooLarge = (limit: number) => () => {
  throw new AppError("message_too_large", `The request body is larger than a ${limit}-byte message allows.`);
};

/**
 * Refuses a body over `maxSize`. With a Content-Length (what every client sends for a
 * JSON body) the header decides, and Node's parser never hands over more bytes than it
 * names; hono's bodyLimit, which counts a chunked body as it streams, is kept for bodies
 * without one. (bodyLimit turns every request into a full WHATWG Request with its own
 * AbortController and body stream: about a tenth of the API's CPU per send.)
 */
function limitBody(maxSize: number, messageLimit: number) {
  const streaming = bodyLimit({ maxSize, onError: tooLarge(messageLimit) });
  return async (c: Context<ApiEnv>, next: () => Promise<void>) => {
    const length = c.req.header("content-length");
    if (length === undefined || !/^\d{1,15}$/.test(length)) return streaming(c, next);
    if (Number(length) > maxSize) tooLarge(messageLimit)();
    await next();
  };
}

function toAppError(err: unknown, c: Context<ApiEnv>): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof HTTPException && err.status === 400) {
    return new AppError("invalid_json", "The request body is not valid JSON.", { cause: err });
  }
  if (isDatabaseDown(err)) {
    log.warn("database unavailable", { request_id: c.get("requestId"), err: err as Error });
    return new AppError("unavailable", "The service cannot reach its database right now; nothing was stored. Retry shortly.", { cause: err });
  }
  log.error("unhandled error", { request_id: c.get("requestId"), path: c.req.path, err: err as Error });
  return new AppError("internal", "Something went wrong inside Hikyaku; nothing was stored. Retry, and quote the request_id if it persists.", { cause: err });
}

/** A refused POST /v1/messages is an intake attempt too: the reception log records it (F9). */
async function logRefusedSend(c: Context<ApiEnv>, err: AppError, deps: ApiDeps): Promise<void> {
  // Only a body the route already parsed is looked at; a refused body is never read again.
  // hono types the cache as plain values; at run time it holds the body read's promise.
  const cached = c.req.bodyCache.text as Promise<string> | string | undefined;
  const text = await Promise.resolve(cached).catch(() => undefined);
  const body = typeof text === "string" ? safeJson(text) : undefined;
  const ip = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
  await recordReception(deps.db, {
    accountId: c.get("account")?.id ?? null,
    channel: "http",
    sourceIp: ip ? (normaliseIp(ip) ?? ip) : null,
    ...describeHttpSend(body),
    code: err.status,
    enhancedCode: null,
    reason: err.message,
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isDatabaseDown(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? "";
  return [
    "ECONNREFUSED",
    "ECONNRESET",
    "CONNECTION_CLOSED",
    "CONNECTION_ENDED",
    "CONNECTION_DESTROYED",
    "CONNECT_TIMEOUT",
    "57P01",
    "57P03",
    "08006",
    "08001",
    "53300",
  ].includes(code);
}

function respond(c: Context<ApiEnv>, err: AppError) {
  return c.json(errorBody(err, c.get("requestId") ?? "req_unknown"), err.status as 400);
}
