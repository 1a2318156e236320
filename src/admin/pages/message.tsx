// A message's detail: each recipient's state and timeline from the log, and cancel or
// reschedule while that is still allowed. Another account's message is a 404 page.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { parseSendAt } from "../../accept/policy.ts";
import { now } from "../../clock.ts";
import { AppError } from "../../errors.ts";
import { parseLogQuery } from "../../logs/parse-query.ts";
import { queryLogs } from "../../logs/query.ts";
import { cancelMessage } from "../../messages/cancel.ts";
import { getMessage } from "../../messages/get-message.ts";
import { rescheduleMessage } from "../../messages/reschedule.ts";
import { accountOf, attempt, type ConsoleContext, type ConsoleEnv, errorNotice, formFields, type Notice } from "../context.ts";
import { stateWord, t } from "../i18n.ts";
import { Csrf, page } from "../layout.tsx";
import { localToRfc3339, rfc3339ToLocal, showTime } from "../time.ts";
import { ServiceCodeNote } from "./logs.tsx";

const WAITING = new Set(["scheduled", "queued", "deferred"]);

export function messagePages(app: Hono<ConsoleEnv>) {
  app.get("/admin/messages/:id", (c) => messagePage(c));
  app.post("/admin/messages/:id/cancel", async (c) => {
    const r = await attempt(() => cancelMessage(c.get("deps").db, accountOf(c), messageId(c)));
    const lang = c.get("lang");
    return messagePage(c, "error" in r ? errorNotice(lang, r.error) : { kind: "ok", text: t(lang, "cancelled") });
  });
  app.post("/admin/messages/:id/reschedule", async (c) => {
    const tz = c.get("session").timeZone;
    const text = localToRfc3339((await formFields(c)).send_at ?? "", tz);
    const r = await attempt(() => rescheduleMessage(c.get("deps").db, accountOf(c), messageId(c), parseSendAt(text, "send_at") ?? now()));
    const lang = c.get("lang");
    return messagePage(c, "error" in r ? errorNotice(lang, r.error) : { kind: "ok", text: t(lang, "rescheduled") });
  });
}

const messageId = (c: ConsoleContext) => {
  const id = c.req.param("id") ?? "";
  return /^[0-9a-f-]{36}$/i.test(id) ? id : "00000000-0000-0000-0000-000000000000";
};

async function messagePage(c: ConsoleContext, notice?: Notice) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  const { db } = c.get("deps");
  const id = messageId(c);
  const m = await getMessage(db, accountOf(c), id);
  if (!m) {
    return page(c, { title: t(lang, "message"), status: 404, notice: errorNotice(lang, new AppError("not_found", "")) }, null);
  }
  const events = (await queryLogs(db, parseLogQuery(accountOf(c), { type: "delivery", message_id: id }), { limit: 1000 })).data.reverse();
  const canCancel = m.recipients.some((r) => WAITING.has(r.state));
  const canReschedule = m.state === "scheduled" && !m.cancelled_at;
  return page(
    c,
    { title: `${t(lang, "message")} ${m.id}`, notice },
    <>
      <dl class="facts">
        <dt>{t(lang, "state")}</dt>
        <dd>{stateWord(lang, m.state)}</dd>
        <dt>{t(lang, "messageId")}</dt>
        <dd>
          <code>{m.message_id}</code>
        </dd>
        <dt>{t(lang, "envelopeSender")}</dt>
        <dd>{m.envelope_from || t(lang, "none")}</dd>
        <dt>{t(lang, "channel")}</dt>
        <dd>{m.channel}</dd>
        <dt>{t(lang, "priority")}</dt>
        <dd>{m.priority}</dd>
        <dt>{t(lang, "tag")}</dt>
        <dd>{m.tags.join(", ") || t(lang, "none")}</dd>
        <dt>{t(lang, "createdAt")}</dt>
        <dd>{showTime(lang, tz, m.created_at)}</dd>
        <dt>{t(lang, "sendAt")}</dt>
        <dd>{showTime(lang, tz, m.send_at)}</dd>
        <dt>{t(lang, "expiresAt")}</dt>
        <dd>{showTime(lang, tz, m.expires_at)}</dd>
      </dl>
      <div class="actions">
        {canCancel ? (
          <form method="post" action={`/admin/messages/${m.id}/cancel`}>
            <Csrf c={c} />
            <button type="submit" class="danger">
              {t(lang, "cancel")}
            </button>
          </form>
        ) : null}
        {canReschedule ? (
          <form method="post" action={`/admin/messages/${m.id}/reschedule`}>
            <Csrf c={c} />
            <label>
              {`${t(lang, "newSendAt")} (${tz})`}
              <input type="datetime-local" name="send_at" required value={m.send_at ? rfc3339ToLocal(m.send_at, tz) : ""} />
            </label>
            <button type="submit">{t(lang, "reschedule")}</button>
          </form>
        ) : null}
      </div>
      <h2>{t(lang, "timeline")}</h2>
      {m.recipients.map((r) => (
        <section class="recipient">
          <h3>
            {r.email} <span class={`badge ${r.state}`}>{stateWord(lang, r.state)}</span>
          </h3>
          <ol class="timeline">
            <li>
              <time datetime={m.created_at}>{showTime(lang, tz, m.created_at)}</time> {stateWord(lang, "accepted")}
            </li>
            {events
              .filter((e) => e.recipient === r.email)
              .map((e) => (
                <li>
                  <time datetime={String(e.time)}>{showTime(lang, tz, String(e.time))}</time>{" "}
                  <span class={`badge ${String(e.event)}`}>{stateWord(lang, String(e.event))}</span>{" "}
                  <span class="code">
                    {String(e.code)} {String(e.enhanced_code ?? "")}
                  </span>{" "}
                  <span class="reply">{String(e.response)}</span>
                  {e.mx_host
                    ? ` · ${String(e.mx_host)} · TLS ${e.tls ? t(lang, "yes") : e.tls_fallback ? t(lang, "tlsFellBack") : t(lang, "no")}${e.tls_detail ? ` (${String(e.tls_detail)})` : ""}`
                    : ""}
                  {e.service_code ? <ServiceCodeNote lang={lang} code={String(e.service_code)} /> : null}
                </li>
              ))}
          </ol>
        </section>
      ))}
    </>,
  );
}
