// SMTP: credentials for the submission ports (create with the password shown once,
// revoke) and the source IPs allowed on the relay port (at most 5).
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { createSmtpCredential, listSmtpCredentials, revokeSmtpCredential } from "../../smtp/credentials.ts";
import { getSourceIps, MAX_SOURCE_IPS, replaceSourceIps } from "../../smtp/source-ips.ts";
import { isUuid } from "../../util/ids.ts";
import { accountOf, attempt, type ConsoleContext, type ConsoleEnv, errorNotice, formFields, type Notice } from "../context.ts";
import { t } from "../i18n.ts";
import { Copyable, Csrf, page } from "../layout.tsx";
import { showTime } from "../time.ts";

export function smtpPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/smtp", (c) => smtpPage(c, c.req.query("done") === "revoked" ? { kind: "ok", text: t(c.get("lang"), "revoked") } : undefined));
  app.post("/admin/smtp/credentials", async (c) => {
    const username = (await formFields(c)).username?.trim() || undefined;
    const r = await attempt(() => createSmtpCredential(c.get("deps").db, accountOf(c), username));
    if ("error" in r) return smtpPage(c, errorNotice(c.get("lang"), r.error));
    return smtpPage(c, undefined, r.ok);
  });
  app.post("/admin/smtp/credentials/:id/revoke", async (c) => {
    const id = c.req.param("id") ?? "";
    if (isUuid(id)) await revokeSmtpCredential(c.get("deps").db, accountOf(c), id);
    return c.redirect("/admin/smtp?done=revoked", 303);
  });
  app.post("/admin/smtp/source-ips", async (c) => {
    const fields = await formFields(c);
    const ips = (fields.ips ?? "")
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter(Boolean)
      .slice(0, 100);
    const r = await attempt(() => replaceSourceIps(c.get("deps").db, accountOf(c), ips));
    const lang = c.get("lang");
    return smtpPage(c, "error" in r ? errorNotice(lang, r.error) : { kind: "ok", text: t(lang, "saved") }, undefined, fields.ips);
  });
}

async function smtpPage(c: ConsoleContext, notice?: Notice, created?: { username: string; password: string }, typedIps?: string) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  const { db, config } = c.get("deps");
  const [credentials, ips] = await Promise.all([listSmtpCredentials(db, accountOf(c)), getSourceIps(db, accountOf(c))]);
  return page(
    c,
    { title: t(lang, "smtp"), notice },
    <>
      <h2>{t(lang, "smtpPorts")}</h2>
      <ul>
        <li>{`${config.HIKYAKU_HOSTNAME}: ${config.HIKYAKU_SMTP_SUBMISSION_PORT} (STARTTLS, AUTH PLAIN/LOGIN) · ${config.HIKYAKU_SMTPS_PORT} (TLS) · relay ${config.HIKYAKU_SMTP_RELAY_PORT}`}</li>
      </ul>
      <h2>{t(lang, "credentials")}</h2>
      {created ? (
        <div class="secret" role="status">
          <p>{t(lang, "shownOnce")}</p>
          <p>
            {`${t(lang, "username")}: `}
            <Copyable value={created.username} lang={lang} label={t(lang, "username")} />
          </p>
          <p>
            {`${t(lang, "password")}: `}
            <Copyable value={created.password} lang={lang} label={t(lang, "password")} />
          </p>
        </div>
      ) : null}
      <form method="post" action="/admin/smtp/credentials" class="inline">
        <Csrf c={c} />
        <label>
          {t(lang, "username")}
          <input type="text" name="username" maxlength={64} placeholder={t(lang, "usernameHint")} autocomplete="off" />
        </label>
        <button type="submit">{t(lang, "create")}</button>
      </form>
      {credentials.length === 0 ? (
        <p>{t(lang, "noCredentials")}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t(lang, "username")}</th>
              <th scope="col">{t(lang, "createdAt")}</th>
              <th scope="col">
                <span class="sr-only">{t(lang, "revoke")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {credentials.map((cr) => (
              <tr>
                <td>
                  <code>{cr.username}</code>
                </td>
                <td>{showTime(lang, tz, cr.created_at)}</td>
                <td>
                  <form method="post" action={`/admin/smtp/credentials/${cr.id}/revoke`}>
                    <Csrf c={c} />
                    <button type="submit" class="danger" aria-label={`${t(lang, "revoke")}: ${cr.username}`}>
                      {t(lang, "revoke")}
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2 id="ips-label">{t(lang, "sourceIps")}</h2>
      <form method="post" action="/admin/smtp/source-ips">
        <Csrf c={c} />
        <textarea name="ips" rows={MAX_SOURCE_IPS} cols={40} aria-labelledby="ips-label">
          {typedIps ?? ips.join("\n")}
        </textarea>
        <button type="submit">{t(lang, "save")}</button>
      </form>
    </>,
  );
}
