// The HTTP API: middleware (request id, authentication, body limit, request guard), the routes, one
// error handler that turns every failure into the one error body, and the generated
// OpenAPI document with its reference page.
import { timingSafeEqual } from "node:crypto";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { accountForKey } from "../accounts/accounts.ts";
import { adminConsole } from "../admin/mount.ts";
import { isDatabaseDown } from "../db/driver-faults.ts";
import { AppError, type ErrorCode, errorBody, errorTable } from "../errors.ts";
import { log } from "../logger.ts";
import { describeHttpSend, recordReception } from "../logs/reception.ts";
import { normaliseIp } from "../smtp/source-ips.ts";
import { uuidv7 } from "../util/ids.ts";
import { limitBodies } from "./body-limit.ts";
import type { ApiDeps, ApiEnv } from "./context.ts";
import { docsRoutes } from "./docs.ts";
import { API_DESCRIPTION } from "./docs-intro.ts";
import { rateLimit } from "./rate-limit.ts";
import { guardRequest, notJson } from "./request-guard.ts";
import { adminAccounts, adminAccountsPatch } from "./routes/admin-accounts.ts";
import { adminAccountsList } from "./routes/admin-accounts-list.ts";
import { apiKeys } from "./routes/api-keys.ts";
import { destinationPoliciesDelete } from "./routes/destination-policies-delete.ts";
import { destinationPoliciesGet } from "./routes/destination-policies-get.ts";
import { destinationPoliciesList } from "./routes/destination-policies-list.ts";
import { destinationPoliciesPut } from "./routes/destination-policies-put.ts";
import { apiKeysList } from "./routes/api-keys-list.ts";
import { domains } from "./routes/domains.ts";
import { domainsVerify } from "./routes/domains-verify.ts";
import { health } from "./routes/health.ts";
import { logsGet } from "./routes/logs-get.ts";
import { messagesBatch } from "./routes/messages-batch.ts";
import { messagesCancel } from "./routes/messages-cancel.ts";
import { messagesGet } from "./routes/messages-get.ts";
import { messagesList } from "./routes/messages-list.ts";
import { messagesPost } from "./routes/messages-post.ts";
import { messagesReschedule } from "./routes/messages-reschedule.ts";
import { metricsRoute } from "./routes/metrics.ts";
import { smtpCredentials } from "./routes/smtp-credentials.ts";
import { sourceIps } from "./routes/source-ips.ts";
import { usageGet } from "./routes/usage-get.ts";
import { suppressionsDelete } from "./routes/suppressions-delete.ts";
import { suppressionsList } from "./routes/suppressions-list.ts";
import { suppressionsPost } from "./routes/suppressions-post.ts";
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
    description: API_DESCRIPTION,
    license: { name: "Proprietary", identifier: "LicenseRef-Hikyaku-Proprietary" },
  },
  servers: [{ url: "http://127.0.0.1:3000", description: "A Hikyaku started with `npm start` (HIKYAKU_HOST:HIKYAKU_HTTP_PORT); use your deployment's URL." }],
  tags: [
    { name: "Messages", description: "Send, batch, list, read, reschedule and cancel messages." },
    { name: "Logs", description: "What happened to every recipient, and every intake attempt; JSON pages or CSV." },
    { name: "Domains", description: "Sending domains, their DKIM keys and DNS records." },
    { name: "API keys", description: "The account's own API keys." },
    { name: "SMTP", description: "Credentials for SMTP submission and the source IPs allowed to relay." },
    { name: "Usage", description: "Monthly usage against the quota." },
    { name: "Suppressions", description: "Addresses the account no longer sends to: hard bounces and complaints." },
    { name: "Webhooks", description: "Signed event notifications (Standard Webhooks) for delivery and intake events." },
    { name: "Admin", description: "Operator routes, authenticated with HIKYAKU_ADMIN_TOKEN." },
    { name: "Operations", description: "Liveness and readiness for load balancers." },
  ],
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
  const limitRate = rateLimit(deps);
  app.use("/v1/*", async (c, next) => {
    if (c.req.path.startsWith("/v1/admin/")) return adminAuth(c, next, deps);
    const header = c.req.header("authorization") ?? "";
    const key = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const account = key && key.length < 200 ? await accountForKey(deps.db, key) : undefined;
    if (!account) throw new AppError("unauthorized", "Send a valid API key as `Authorization: Bearer <key>`; this one is missing, unknown or revoked.");
    c.set("account", account);
    await limitRate(c);
    await next();
  });
  // The console (/admin) posts forms and answers a too-large one with its own page.
  const bodies = limitBodies(deps.config);
  app.use("*", (c, next) => (c.req.path === "/admin" || c.req.path.startsWith("/admin/") ? next() : bodies(c, next)));
  app.use("/v1/*", guardRequest);

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
  for (const r of [messagesBatch, messagesList, messagesReschedule, apiKeysList, adminAccountsList]) app.route("/", r);
  for (const r of [suppressionsList, suppressionsPost, suppressionsDelete]) app.route("/", r);
  app.route("/", metricsRoute);
  for (const r of [destinationPoliciesList, destinationPoliciesGet, destinationPoliciesPut, destinationPoliciesDelete]) app.route("/", r);
  for (const r of [webhooksPost, webhooksList, webhooksGet, webhooksPatch, webhooksDelete, webhooksRotate, webhooksDeliveries, webhooksReplay])
    app.route("/", r);
  app.doc31("/openapi.json", OPENAPI_INFO);
  app.route("/", docsRoutes());
  app.route("/", adminConsole());

  app.notFound((c) => respond(c, new AppError("not_found", `No route ${c.req.method} ${c.req.path}.`)));
  app.onError((err, c) => {
    const appErr = toAppError(err, c);
    if (c.req.method === "POST" && (c.req.path === "/v1/messages" || c.req.path === "/v1/messages/batch")) void logRefusedSend(c, appErr, deps);
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

function toAppError(err: unknown, c: Context<ApiEnv>): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof HTTPException && err.status < 500) return fromHttpException(err);
  if (isDatabaseDown(err)) {
    log.warn("database unavailable", { request_id: c.get("requestId"), err: err as Error });
    return new AppError("unavailable", "The service cannot reach its database right now; nothing was stored. Retry shortly.", { cause: err });
  }
  log.error("unhandled error", { request_id: c.get("requestId"), path: c.req.path, err: err as Error });
  return new AppError("internal", "Something went wrong inside Hikyaku; nothing was stored. Retry, and quote the request_id if it persists.", { cause: err });
}

/** hono's own refusals (body parsing, the routes' media type gate) in the one error body. */
function fromHttpException(err: HTTPException): AppError {
  if (err.status === 400) return new AppError("invalid_json", "The request body is not valid JSON.", { cause: err });
  if (err.status === 415) return notJson(err);
  if (err.status === 413) return new AppError("request_too_large", "The request body is larger than this route takes.", { cause: err });
  const code = (Object.keys(errorTable) as ErrorCode[]).find((k) => errorTable[k].http === err.status);
  return new AppError(code ?? "malformed_request", err.message || "The request was refused.", { cause: err });
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

function respond(c: Context<ApiEnv>, err: AppError) {
  return c.json(errorBody(err, c.get("requestId") ?? "req_unknown"), err.status as 400);
}
