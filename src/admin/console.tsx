// The /admin console, served by the api role beside the API: server-rendered pages
// (hono JSX) over the same functions the API routes call. Sessions, the CSRF check on
// every POST, the strict CSP and the language are decided here, once, for every page.
// Rendered by hono/jsx, also when no tsconfig.json is found (a start from another directory).
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import { readFileSync } from "node:fs";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie, setCookie } from "hono/cookie";
import { log } from "../logger.ts";
import type { ConsoleContext, ConsoleEnv } from "./context.ts";
import { chooseLang, errorText, t } from "./i18n.ts";
import { page } from "./layout.tsx";
import { destinationPages } from "./pages/destinations.tsx";
import { domainPages } from "./pages/domains.tsx";
import { keyPages } from "./pages/keys.tsx";
import { logPages } from "./pages/logs.tsx";
import { manualPages } from "./pages/manual.tsx";
import { messagePages } from "./pages/message.tsx";
import { operatorPages } from "./pages/operator.tsx";
import { cookieOptions, signInPages } from "./pages/sign-in.tsx";
import { smtpPages } from "./pages/smtp.tsx";
import { suppressionPages } from "./pages/suppressions.tsx";
import { usagePages } from "./pages/usage.tsx";
import { webhookPages } from "./pages/webhooks.tsx";
import { findSession, SESSION_COOKIE, sameToken } from "./session.ts";

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

const ASSETS: Record<string, { type: string; body: string }> = {
  "console.css": { type: "text/css; charset=utf-8", body: readFileSync(new URL("./assets/console.css", import.meta.url), "utf8") },
  "console.js": { type: "text/javascript; charset=utf-8", body: readFileSync(new URL("./assets/console.js", import.meta.url), "utf8") },
};

/** Paths open without a session. */
const PUBLIC = /^\/admin\/(sign-in|assets\/|lang\/)/;
const LANG_COOKIE = "hk_lang";

/** The console's own app; src/admin/mount.ts hands it each /admin request with the API's deps in the env. */
export function consoleApp(): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  app.use("/admin/*", async (c, next) => {
    const env = (c.env ?? {}) as { deps: ConsoleEnv["Variables"]["deps"]; requestId: string };
    c.set("deps", env.deps);
    c.set("requestId", env.requestId);
    await next();
  });
  app.use("/admin/*", async (c, next) => {
    const t0 = performance.now();
    await next();
    // The page's time in the server (queries and rendering), for the browser's timing tools and the bench.
    c.header("Server-Timing", `app;dur=${(performance.now() - t0).toFixed(1)}`);
    c.header("Content-Security-Policy", CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("X-Frame-Options", "DENY");
    c.header("Referrer-Policy", "no-referrer");
    if (!c.req.path.startsWith("/admin/assets/")) c.header("Cache-Control", "no-store");
  });
  app.use("/admin/*", async (c, next) => {
    c.set("lang", chooseLang(getCookie(c, LANG_COOKIE), c.req.header("accept-language")));
    await next();
  });
  app.use(
    "/admin/*",
    bodyLimit({
      maxSize: 64 * 1024,
      onError: (c) => page(c as ConsoleContext, { title: "413", status: 413, notice: { kind: "error", text: errorText(c.get("lang"), "too_large") } }, null),
    }),
  );

  app.get("/admin/assets/:file", (c) => {
    const asset = ASSETS[c.req.param("file")];
    if (!asset) return notFound(c);
    return c.body(asset.body, 200, { "content-type": asset.type, "cache-control": "public, max-age=300" });
  });
  app.get("/admin/lang/:lang", (c) => {
    const lang = c.req.param("lang") === "ja" ? "ja" : "en";
    setCookie(c, LANG_COOKIE, lang, { ...cookieOptions(c), maxAge: 365 * 86400 });
    const back = c.req.query("back") ?? "";
    // Only back into the console: a path under /admin, with its query.
    return c.redirect(/^\/admin(\/[A-Za-z0-9/._@%-]*)?(\?[^\s\\]*)?$/.test(back) ? back : "/admin", 303);
  });

  app.use("/admin/*", gate);
  signInPages(app);
  app.get("/admin", (c) => c.redirect(c.get("session").accountId ? "/admin/logs" : "/admin/operator", 303));
  for (const pages of [
    logPages,
    messagePages,
    domainPages,
    smtpPages,
    keyPages,
    webhookPages,
    suppressionPages,
    usagePages,
    manualPages,
    operatorPages,
    destinationPages,
  ])
    pages(app);
  app.all("/admin/*", notFound);

  app.onError((err, c) => {
    log.error("console error", { request_id: c.get("requestId"), path: c.req.path, err: err as Error });
    return page(c, { title: "500", status: 500, notice: { kind: "error", text: errorText(c.get("lang") ?? "en", "internal") } }, null);
  });
  return app;
}

/**
 * Every non-public path needs a live session (else 303 to the sign-in page); every POST
 * the session's form token; operator pages the operator, account pages an account.
 */
async function gate(c: ConsoleContext, next: () => Promise<void>) {
  if (PUBLIC.test(c.req.path)) return next();
  const session = await findSession(c.get("deps").db, getCookie(c, SESSION_COOKIE));
  if (!session) return c.redirect("/admin/sign-in", 303);
  c.set("session", session);
  if (c.req.method === "POST") {
    const form = await c.req.parseBody();
    if (!sameToken(form._csrf, session.csrf)) {
      return page(c, { title: "403", status: 403, notice: { kind: "error", text: errorText(c.get("lang"), "csrf") } }, null);
    }
  }
  const operatorPath = c.req.path.startsWith("/admin/operator");
  const shared = c.req.path === "/admin" || c.req.path === "/admin/sign-out" || c.req.path === "/admin/manual";
  if (!shared && operatorPath !== (session.accountId === null)) return notFound(c);
  return next();
}

function notFound(c: ConsoleContext) {
  const lang = c.get("lang") ?? "en";
  return page(
    c,
    { title: "404", status: 404, notice: { kind: "error", text: errorText(lang, "not_found") } },
    <p>
      <a href="/admin">{t(lang, "title")}</a>
    </p>,
  );
}
