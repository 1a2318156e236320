// The operator's view (signed in with HIKYAKU_ADMIN_TOKEN): every account with its quota
// and time zone, a new account (its first key shown once), and the queue.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { createAccount, listAccounts, updateAccountSettings } from "../../accounts/accounts.ts";
import { AppError } from "../../errors.ts";
import { attempt, type ConsoleContext, type ConsoleEnv, errorNotice, formFields, type Notice } from "../context.ts";
import { stateWord, t } from "../i18n.ts";
import { ColumnHeads, Copyable, Csrf, page } from "../layout.tsx";
import { queueSummary } from "../queue-summary.ts";
import { showTime } from "../time.ts";

export function operatorPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/operator", (c) => operatorPage(c, c.req.query("done") === "saved" ? { kind: "ok", text: t(c.get("lang"), "saved") } : undefined));
  app.post("/admin/operator/accounts", async (c) => {
    const name = (await formFields(c)).name?.trim() ?? "";
    const r = await attempt(async () => {
      if (name.length < 1 || name.length > 200) throw new AppError("validation_error", "name must be 1-200 characters.", { field: "name" });
      return createAccount(c.get("deps").db, name);
    });
    if ("error" in r) return operatorPage(c, errorNotice(c.get("lang"), r.error));
    return operatorPage(c, undefined, { name: r.ok.account.name, key: r.ok.key.key });
  });
  app.post("/admin/operator/accounts/:id", async (c) => {
    const f = await formFields(c);
    const quota = f.monthly_quota?.trim() ?? "";
    const r = await attempt(async () => {
      if (quota !== "" && !/^\d{1,10}$/.test(quota))
        throw new AppError("validation_error", "monthly_quota must be a whole number.", { field: "monthly_quota" });
      const row = await updateAccountSettings(c.get("deps").db, c.req.param("id") ?? "", {
        monthly_quota: quota === "" ? null : Math.min(Number(quota), 2_000_000_000),
        time_zone: f.time_zone?.trim() || undefined,
      });
      if (!row) throw new AppError("not_found", "No such account.");
    });
    if ("error" in r) return operatorPage(c, errorNotice(c.get("lang"), r.error));
    return c.redirect("/admin/operator?done=saved", 303);
  });
}

async function operatorPage(c: ConsoleContext, notice?: Notice, created?: { name: string; key: string }) {
  const lang = c.get("lang");
  const { db } = c.get("deps");
  const [accounts, queue] = await Promise.all([listAccounts(db), queueSummary(db)]);
  return page(
    c,
    { title: t(lang, "operator"), notice },
    <>
      <h2>{t(lang, "queue")}</h2>
      <dl class="facts">
        <dt>{t(lang, "outbox")}</dt>
        <dd>{`${queue.outbox} (${t(lang, "due")}: ${queue.due})`}</dd>
        <dt>{t(lang, "oldestDue")}</dt>
        <dd>{showTime(lang, "UTC", queue.oldestDue)} UTC</dd>
        <dt>{t(lang, "waiting")}</dt>
        <dd>{queue.waiting.length ? queue.waiting.map((w) => `${stateWord(lang, w.state)} ${w.count}`).join(" · ") : "0"}</dd>
      </dl>
      <h2>{t(lang, "createAccount")}</h2>
      {created ? (
        <div class="secret" role="status">
          <p>{t(lang, "shownOnce")}</p>
          <p>
            {`${created.name} — ${t(lang, "firstKey")}: `}
            <Copyable value={created.key} lang={lang} label={t(lang, "firstKey")} />
          </p>
        </div>
      ) : null}
      <form method="post" action="/admin/operator/accounts" class="inline">
        <Csrf c={c} />
        <label>
          {t(lang, "accountName")}
          <input type="text" name="name" required maxlength={200} autocomplete="off" />
        </label>
        <button type="submit">{t(lang, "create")}</button>
      </form>
      <h2>{t(lang, "accounts")}</h2>
      <table>
        <ColumnHeads lang={lang} words={["accountName", "createdAt", "settings"]} />
        <tbody>
          {accounts.map((a) => (
            <tr>
              <td>
                {a.name}
                <br />
                <code class="hint">{a.id}</code>
              </td>
              <td>{showTime(lang, "UTC", a.createdAt)} UTC</td>
              <td>
                <form method="post" action={`/admin/operator/accounts/${a.id}`} class="inline">
                  <Csrf c={c} />
                  <label>
                    {t(lang, "quota")}
                    <input
                      type="text"
                      inputmode="numeric"
                      name="monthly_quota"
                      value={a.monthlyQuota === null ? "" : String(a.monthlyQuota)}
                      placeholder={t(lang, "quotaHint")}
                      size={10}
                    />
                  </label>
                  <label>
                    {t(lang, "timeZone")}
                    <input type="text" name="time_zone" value={a.timeZone} size={16} />
                  </label>
                  <button type="submit" aria-label={`${t(lang, "save")}: ${a.name}`}>
                    {t(lang, "save")}
                  </button>
                </form>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>,
  );
}
