// The suppression list: newest first by cursor, each address with its reason and the
// event that caused it; add an address by hand, remove one. The same functions as
// /v1/suppressions (src/suppressions/suppressions.ts).
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { AppError } from "../../errors.ts";
import { addSuppression, listSuppressions, removeSuppression, suppressionAddress } from "../../suppressions/suppressions.ts";
import { accountOf, attempt, type ConsoleContext, type ConsoleEnv, errorNotice, formFields, type Notice } from "../context.ts";
import { stateWord, t } from "../i18n.ts";
import { Csrf, page } from "../layout.tsx";
import { showTime } from "../time.ts";

const PAGE_SIZE = 50;

export function suppressionPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/suppressions", (c) => {
    const lang = c.get("lang");
    return listPage(c, c.req.query("done") === "removed" ? { kind: "ok", text: t(lang, "removedSuppression") } : undefined);
  });
  app.post("/admin/suppressions", async (c) => {
    const lang = c.get("lang");
    const f = await formFields(c);
    const typed = { address: f.address ?? "", reason: f.reason === "complaint" ? "complaint" : "manual", detail: (f.detail ?? "").trim() } as const;
    const r = await attempt(async () => {
      if (typed.detail.length > 500) throw new AppError("validation_error", "detail: at most 500 characters.", { field: "detail" });
      const address = suppressionAddress(typed.address.slice(0, 320), "address");
      return addSuppression(c.get("deps").db, accountOf(c), { address, reason: typed.reason, detail: typed.detail || undefined });
    });
    if ("error" in r) return listPage(c, errorNotice(lang, r.error), typed);
    return listPage(c, { kind: "ok", text: t(lang, r.ok.created ? "added" : "alreadySuppressed") });
  });
  app.post("/admin/suppressions/remove", async (c) => {
    const f = await formFields(c);
    const r = await attempt(async () => {
      const address = suppressionAddress((f.address ?? "").slice(0, 320), "address");
      if (!(await removeSuppression(c.get("deps").db, accountOf(c), address)))
        throw new AppError("not_found", `${address} is not on this account's suppression list.`, { field: "address" });
    });
    if ("error" in r) return listPage(c, errorNotice(c.get("lang"), r.error));
    return c.redirect("/admin/suppressions?done=removed", 303);
  });
}

async function listPage(c: ConsoleContext, notice?: Notice, typed?: { address: string; reason: string; detail: string }) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  const cursor = c.req.query("cursor")?.slice(0, 400) || undefined;
  const listed = await attempt(() => listSuppressions(c.get("deps").db, accountOf(c), { limit: PAGE_SIZE, cursor }));
  const list = "ok" in listed ? listed.ok : { data: [], next_cursor: null };
  return page(
    c,
    { title: t(lang, "suppressions"), notice: notice ?? ("error" in listed ? errorNotice(lang, listed.error) : undefined) },
    <>
      <p class="hint">{t(lang, "suppressionHelp")}</p>
      <h2>{t(lang, "addSuppression")}</h2>
      <form method="post" action="/admin/suppressions" class="inline">
        <Csrf c={c} />
        <label>
          {t(lang, "address")}
          <input type="email" name="address" required maxlength={320} value={typed?.address ?? ""} autocomplete="off" />
        </label>
        <label>
          {t(lang, "reason")}
          <select name="reason">
            {(["manual", "complaint"] as const).map((r) => (
              <option value={r} selected={typed?.reason === r}>
                {stateWord(lang, r)}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t(lang, "detail")}
          <input type="text" name="detail" maxlength={500} value={typed?.detail ?? ""} />
        </label>
        <button type="submit">{t(lang, "add")}</button>
      </form>
      {list.data.length === 0 ? (
        <p>{t(lang, "noSuppressions")}</p>
      ) : (
        <div class="scroll" tabindex={0}>
          <table>
            <thead>
              <tr>
                <th scope="col">{t(lang, "address")}</th>
                <th scope="col">{t(lang, "reason")}</th>
                <th scope="col">{t(lang, "cause")}</th>
                <th scope="col">{t(lang, "detail")}</th>
                <th scope="col">{t(lang, "addedAt")}</th>
                <th scope="col">
                  <span class="sr-only">{t(lang, "remove")}</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((s) => (
                <tr class="suppression">
                  <td>{s.address}</td>
                  <td>{stateWord(lang, s.reason)}</td>
                  <td>
                    {s.message_id ? <a href={`/admin/messages/${s.message_id}`}>{`#${s.event_id ?? ""} · ${s.message_id.slice(0, 13)}…`}</a> : t(lang, "none")}
                  </td>
                  <td>{s.detail ?? ""}</td>
                  <td>{showTime(lang, tz, s.created_at)}</td>
                  <td>
                    <form method="post" action="/admin/suppressions/remove">
                      <Csrf c={c} />
                      <input type="hidden" name="address" value={s.address} />
                      <button type="submit" class="danger" aria-label={`${t(lang, "remove")}: ${s.address}`}>
                        {t(lang, "remove")}
                      </button>
                    </form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pages" aria-label={t(lang, "nextPage")}>
        {cursor ? <a href="/admin/suppressions">{t(lang, "firstPage")}</a> : null}
        {list.next_cursor ? (
          <a href={`/admin/suppressions?cursor=${encodeURIComponent(list.next_cursor)}`} rel="next">
            {t(lang, "nextPage")}
          </a>
        ) : null}
      </nav>
    </>,
  );
}
