// The delivery and reception logs: the filters of GET /v1/logs, pages by cursor, each
// row with its code, the destination's own words and TLS; Hikyaku's own codes explained
// in place; the current filter's failures as CSV.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import type { ServiceCode } from "../../delivery/service-codes.ts";
import { AppError } from "../../errors.ts";
import { csvRow, logCsv } from "../../logs/csv.ts";
import { DELIVERY_FIELDS, type ApiEvent } from "../../logs/format-event.ts";
import { type LogQuery, parseLogQuery } from "../../logs/parse-query.ts";
import { DELIVERY_EVENTS, queryLogs, RECEPTION_EVENTS } from "../../logs/query.ts";
import { accountOf, type ConsoleContext, type ConsoleEnv, errorNotice } from "../context.ts";
import { type Lang, serviceCodeMeaning, stateWord, t } from "../i18n.ts";
import { ColumnHeads, page } from "../layout.tsx";
import { localToRfc3339, showTime } from "../time.ts";

const PAGE_SIZE = 50;
const FAILURES = ["bounced", "expired"];
const FIELDS = ["since", "until", "event", "recipient", "envelope_sender", "source_ip", "tag", "message_id"] as const;
type Field = (typeof FIELDS)[number];

export function logPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/logs", (c) => logPage(c, "delivery"));
  app.get("/admin/reception", (c) => logPage(c, "reception"));
  app.get("/admin/logs/failures.csv", failuresCsv);
}

/** The filter fields as typed (to refill the form), and as the log API's query. */
function readFilter(c: ConsoleContext, type: "delivery" | "reception") {
  const tz = c.get("session").timeZone;
  const typed: Partial<Record<Field, string>> = {};
  for (const f of FIELDS) {
    const v = c.req.query(f)?.trim().slice(0, 320);
    if (v) typed[f] = v;
  }
  const query: LogQuery = {
    type,
    ...typed,
    since: typed.since === undefined ? undefined : localToRfc3339(typed.since, tz),
    until: typed.until === undefined ? undefined : localToRfc3339(typed.until, tz),
  };
  return { typed, query };
}

async function logPage(c: ConsoleContext, type: "delivery" | "reception") {
  const lang = c.get("lang");
  const { typed, query } = readFilter(c, type);
  const title = t(lang, type === "delivery" ? "logs" : "reception");
  const cursor = c.req.query("cursor")?.slice(0, 200) || undefined;
  let events: ApiEvent[] = [];
  let next: string | null = null;
  try {
    const result = await queryLogs(c.get("deps").db, parseLogQuery(accountOf(c), query), { limit: PAGE_SIZE, cursor });
    events = result.data;
    next = result.nextCursor;
  } catch (err) {
    if (!(err instanceof AppError) || err.status >= 500) throw err;
    return page(c, { title, notice: errorNotice(lang, err) }, <FilterForm c={c} type={type} typed={typed} />);
  }
  const params = new URLSearchParams(Object.entries(typed) as [string, string][]);
  const nextHref = next ? `${c.req.path}?${new URLSearchParams([...params, ["cursor", next]])}` : null;
  return page(
    c,
    { title },
    <>
      <FilterForm c={c} type={type} typed={typed} />
      {type === "delivery" ? (
        <p class="csv">
          <a href={`/admin/logs/failures.csv?${params}`} download>
            {t(lang, "failuresCsv")}
          </a>{" "}
          <span class="hint">{t(lang, "failuresCsvHelp")}</span>
        </p>
      ) : null}
      {events.length === 0 ? (
        <p>{t(lang, "noEvents")}</p>
      ) : type === "delivery" ? (
        <DeliveryTable c={c} events={events} />
      ) : (
        <ReceptionTable c={c} events={events} />
      )}
      <nav class="pages" aria-label={t(lang, "nextPage")}>
        {cursor ? <a href={`${c.req.path}?${params}`}>{t(lang, "firstPage")}</a> : null}
        {nextHref ? (
          <a href={nextHref} rel="next">
            {t(lang, "nextPage")}
          </a>
        ) : null}
      </nav>
    </>,
  );
}

function FilterForm({ c, type, typed }: { c: ConsoleContext; type: "delivery" | "reception"; typed: Partial<Record<Field, string>> }) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  const events = type === "delivery" ? [...DELIVERY_EVENTS, FAILURES.join(",")] : RECEPTION_EVENTS;
  const text = (name: Field, word: Parameters<typeof t>[1], hint?: string) => (
    <label>
      {t(lang, word)}
      <input type="text" name={name} value={typed[name] ?? ""} placeholder={hint} autocomplete="off" />
    </label>
  );
  return (
    <form method="get" action={c.req.path} class="filters">
      <label>
        {`${t(lang, "since")} (${tz})`}
        <input type="datetime-local" name="since" value={typed.since ?? ""} />
      </label>
      <label>
        {`${t(lang, "until")} (${tz})`}
        <input type="datetime-local" name="until" value={typed.until ?? ""} />
      </label>
      <label>
        {t(lang, "event")}
        <select name="event">
          <option value="">{t(lang, "anyEvent")}</option>
          {events.map((e) => (
            <option value={e} selected={typed.event === e}>
              {e
                .split(",")
                .map((x) => stateWord(lang, x))
                .join(" + ")}
            </option>
          ))}
        </select>
      </label>
      {type === "delivery" ? text("recipient", "recipient", t(lang, "recipientHint")) : null}
      {text("envelope_sender", "envelopeSender")}
      {text("source_ip", "sourceIp", "192.0.2.10")}
      {type === "delivery" ? text("tag", "tag") : null}
      {text("message_id", "messageId")}
      <div class="actions">
        <button type="submit">{t(lang, "filter")}</button> <a href={c.req.path}>{t(lang, "clear")}</a>
      </div>
    </form>
  );
}

const s = (v: unknown) => (v === null || v === undefined ? "" : String(v));

function DeliveryTable({ c, events }: { c: ConsoleContext; events: ApiEvent[] }) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  return (
    <div class="scroll" tabindex={0}>
      <table class="log">
        <ColumnHeads lang={lang} words={["time", "event", "recipient", "code", "response", "tls", "mx", "sourceIp", "messageId"]} />
        <tbody>
          {events.map((e) => (
            <tr class={`ev-${s(e.event)}`}>
              <td>
                <time datetime={s(e.time)}>{showTime(lang, tz, s(e.time))}</time>
              </td>
              <td>
                <span class={`badge ${s(e.event)}`}>{stateWord(lang, s(e.event))}</span>
              </td>
              <td>{s(e.recipient)}</td>
              <td class="code">
                {s(e.code)} {s(e.enhanced_code)}
              </td>
              <td>
                <span class="reply">{s(e.response)}</span>
                {e.service_code ? <ServiceCodeNote lang={lang} code={s(e.service_code)} /> : null}
              </td>
              <td title={e.tls_detail ? s(e.tls_detail) : undefined}>
                {e.tls === null ? t(lang, "none") : e.tls ? t(lang, "yes") : e.tls_fallback ? t(lang, "tlsFellBack") : t(lang, "no")}
              </td>
              <td>{e.mx_host ? `${s(e.mx_host)} (${s(e.mx_ip)})` : t(lang, "none")}</td>
              <td>{`${s(e.source_ip) || t(lang, "none")} ${s(e.channel)}`}</td>
              <td>
                <a href={`/admin/messages/${s(e.message_id)}`}>{s(e.message_id).slice(0, 13)}…</a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ServiceCodeNote({ lang, code }: { lang: Lang; code: string }) {
  const meaning = serviceCodeMeaning[code as ServiceCode];
  return (
    <span class="svc">
      {`${t(lang, "serviceCode")} ${code}`}
      {meaning ? `: ${meaning[lang]}` : ""}
    </span>
  );
}

function ReceptionTable({ c, events }: { c: ConsoleContext; events: ApiEvent[] }) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  return (
    <div class="scroll" tabindex={0}>
      <table class="log">
        <ColumnHeads lang={lang} words={["time", "result", "channel", "sourceIp", "envelopeSender", "recipients", "code", "reason", "messageId"]} />
        <tbody>
          {events.map((e) => (
            <tr>
              <td>
                <time datetime={s(e.time)}>{showTime(lang, tz, s(e.time))}</time>
              </td>
              <td>
                <span class={`badge ${s(e.event)}`}>{stateWord(lang, s(e.event))}</span>
              </td>
              <td>{s(e.channel)}</td>
              <td>{s(e.source_ip) || t(lang, "none")}</td>
              <td>{s(e.envelope_sender) || t(lang, "none")}</td>
              <td>{s(e.recipient_count)}</td>
              <td class="code">
                {s(e.code)} {s(e.enhanced_code)}
              </td>
              <td>{s(e.reason)}</td>
              <td>{e.message_id ? <a href={`/admin/messages/${s(e.message_id)}`}>{s(e.message_id).slice(0, 13)}…</a> : t(lang, "none")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The current filter's bounced and expired events, as the API's CSV. */
async function failuresCsv(c: ConsoleContext) {
  const lang = c.get("lang");
  const { query } = readFilter(c, "delivery");
  const asked = query.event?.split(",").map((e) => e.trim());
  const events = asked ? FAILURES.filter((e) => asked.includes(e)) : FAILURES;
  const headers = { "content-type": "text/csv; charset=utf-8; header=present", "content-disposition": 'attachment; filename="hikyaku-failures.csv"' };
  try {
    const filter = parseLogQuery(accountOf(c), { ...query, event: (events.length ? events : FAILURES).join(",") });
    if (events.length === 0) return c.body(csvRow(DELIVERY_FIELDS), 200, headers);
    return c.body(await logCsv(c.get("deps").db, filter), 200, headers);
  } catch (err) {
    if (!(err instanceof AppError) || err.status >= 500) throw err;
    return page(c, { title: t(lang, "logs"), notice: errorNotice(lang, err) }, <FilterForm c={c} type="delivery" typed={readFilter(c, "delivery").typed} />);
  }
}
