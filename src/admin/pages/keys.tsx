// API keys: the account's active keys by prefix, a new one (shown once), revoke. Revoking
// the key this session was opened with signs the session out.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { createKey, listKeys, revokeKey } from "../../accounts/accounts.ts";
import { isUuid } from "../../util/ids.ts";
import { accountOf, type ConsoleContext, type ConsoleEnv, formFields, type Notice } from "../context.ts";
import { t } from "../i18n.ts";
import { Copyable, Csrf, page } from "../layout.tsx";
import { showTime } from "../time.ts";

export function keyPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/keys", (c) => keysPage(c, c.req.query("done") === "revoked" ? { kind: "ok", text: t(c.get("lang"), "revoked") } : undefined));
  app.post("/admin/keys", async (c) => {
    const name = (await formFields(c)).name?.trim().slice(0, 100) || undefined;
    return keysPage(c, undefined, await createKey(c.get("deps").db, accountOf(c), name));
  });
  app.post("/admin/keys/:id/revoke", async (c) => {
    const id = c.req.param("id") ?? "";
    if (isUuid(id)) await revokeKey(c.get("deps").db, id, accountOf(c));
    return c.redirect(id === c.get("session").apiKeyId ? "/admin/sign-in" : "/admin/keys?done=revoked", 303);
  });
}

async function keysPage(c: ConsoleContext, notice?: Notice, created?: { key: string; prefix: string }) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  const keys = await listKeys(c.get("deps").db, accountOf(c), 1000);
  return page(
    c,
    { title: t(lang, "apiKeys"), notice },
    <>
      {created ? (
        <div class="secret" role="status">
          <p>{t(lang, "shownOnce")}</p>
          <p>
            {`${t(lang, "newKey")}: `}
            <Copyable value={created.key} lang={lang} label={t(lang, "newKey")} />
          </p>
        </div>
      ) : null}
      <form method="post" action="/admin/keys" class="inline">
        <Csrf c={c} />
        <label>
          {t(lang, "keyName")}
          <input type="text" name="name" maxlength={100} autocomplete="off" />
        </label>
        <button type="submit">{t(lang, "create")}</button>
      </form>
      {keys.length === 0 ? (
        <p>{t(lang, "noKeys")}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">{t(lang, "prefix")}</th>
              <th scope="col">{t(lang, "keyName")}</th>
              <th scope="col">{t(lang, "createdAt")}</th>
              <th scope="col">
                <span class="sr-only">{t(lang, "revoke")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr>
                <td>
                  <code>{k.prefix}_…</code>
                  {k.id === c.get("session").apiKeyId ? <span class="hint">{` (${t(lang, "thisSession")})`}</span> : null}
                </td>
                <td>{k.name ?? t(lang, "none")}</td>
                <td>{showTime(lang, tz, k.created_at)}</td>
                <td>
                  <form method="post" action={`/admin/keys/${k.id}/revoke`}>
                    <Csrf c={c} />
                    <button type="submit" class="danger" aria-label={`${t(lang, "revoke")}: ${k.prefix}`}>
                      {t(lang, "revoke")}
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>,
  );
}
