// Sign-in with an account's API key (the account view) or the operator token (the
// operator view), and sign-out. Every wrong key gets the same sentence and counts
// against the client's IP; the key travels only in a POST body.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import { timingSafeEqual } from "node:crypto";
import type { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { normaliseIp } from "../../smtp/source-ips.ts";
import type { ConsoleContext, ConsoleEnv } from "../context.ts";
import { errorText, t } from "../i18n.ts";
import { page } from "../layout.tsx";
import { endSession, newToken, openAccountSession, openOperatorSession, SESSION_COOKIE, SESSION_SECONDS, sameToken } from "../session.ts";
import { recordSignInFailure, signInLocked } from "../sign-in-limit.ts";

/** The sign-in form's own CSRF token (double submit: cookie and field must match). */
const SIGN_IN_COOKIE = "hk_signin";

export function signInPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/sign-in", (c) => signInPage(c));
  app.post("/admin/sign-in", async (c) => {
    const lang = c.get("lang");
    const form = await c.req.parseBody();
    if (!sameToken(form._csrf, getCookie(c, SIGN_IN_COOKIE))) return signInPage(c, errorText(lang, "csrf"), 403);
    const { db, config } = c.get("deps");
    const ip = clientIp(c);
    if (await signInLocked(db, ip)) return signInPage(c, errorText(lang, "signin:locked"), 429);
    const key = typeof form.key === "string" ? form.key.trim() : "";
    const token = isOperatorToken(key, config.HIKYAKU_ADMIN_TOKEN)
      ? await openOperatorSession(db)
      : key.length > 0 && key.length < 200
        ? await openAccountSession(db, key)
        : undefined;
    if (!token) {
      await recordSignInFailure(db, ip);
      return signInPage(c, errorText(lang, "signin:wrong"), 401);
    }
    deleteCookie(c, SIGN_IN_COOKIE, { path: "/admin" });
    setCookie(c, SESSION_COOKIE, token, { ...cookieOptions(c), maxAge: SESSION_SECONDS });
    return c.redirect(isOperatorToken(key, config.HIKYAKU_ADMIN_TOKEN) ? "/admin/operator" : "/admin/logs", 303);
  });
  app.post("/admin/sign-out", async (c) => {
    await endSession(c.get("deps").db, getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
    return c.redirect("/admin/sign-in", 303);
  });
}

function signInPage(c: ConsoleContext, error?: string, status = 200) {
  const lang = c.get("lang");
  const csrf = newToken();
  setCookie(c, SIGN_IN_COOKIE, csrf, { ...cookieOptions(c), maxAge: 3600 });
  return page(
    c,
    { title: t(lang, "signIn"), notice: error ? { kind: "error", text: error } : undefined, status },
    <form method="post" action="/admin/sign-in" class="signin">
      <input type="hidden" name="_csrf" value={csrf} />
      <p class="hint">{t(lang, "signInHelp")}</p>
      <label>
        {t(lang, "keyOrToken")}
        <input type="password" name="key" required maxlength={200} autocomplete="current-password" />
      </label>
      <button type="submit">{t(lang, "signIn")}</button>
    </form>,
  );
}

/** Secure only over TLS (directly, or behind a proxy that says so): a Secure cookie is never sent back over plain HTTP. */
export function cookieOptions(c: ConsoleContext) {
  const tls = c.req.url.startsWith("https:") || c.req.header("x-forwarded-proto") === "https";
  return { path: "/admin", httpOnly: true, sameSite: "Strict" as const, secure: tls };
}

function isOperatorToken(given: string, token: string | undefined): boolean {
  if (!token) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function clientIp(c: ConsoleContext): string {
  const ip = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress ?? "unknown";
  return normaliseIp(ip) ?? ip;
}
