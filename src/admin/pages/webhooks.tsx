// Webhooks: the account's endpoints (create with the secret shown once, enable, disable,
// rotate the secret, delete) and each endpoint's recent deliveries, with a replay of a
// time range. The same functions as /v1/webhooks (src/webhooks/*).
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { AppError } from "../../errors.ts";
import { nowMs } from "../../clock.ts";
import {
  createEndpoint,
  deleteEndpoint,
  type Endpoint,
  getEndpoint,
  listEndpoints,
  MAX_ENDPOINTS,
  rotateSecret,
  updateEndpoint,
} from "../../webhooks/endpoints.ts";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../../webhooks/event-types.ts";
import { listDeliveries } from "../../webhooks/list-deliveries.ts";
import { replayEvents } from "../../webhooks/replay.ts";
import { accountOf, attempt, type ConsoleContext, type ConsoleEnv, errorNotice, type Notice } from "../context.ts";
import { errorText, stateWord, t } from "../i18n.ts";
import { ColumnHeads, Copyable, Csrf, page } from "../layout.tsx";
import { localToRfc3339, rfc3339ToLocal, showTime } from "../time.ts";

const PAGE_SIZE = 50;
const DONE = { enabled: "saved", disabled: "saved", deleted: "deleted" } as const;

export function webhookPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/webhooks", (c) => {
    const done = DONE[c.req.query("done") as keyof typeof DONE];
    return listPage(c, done ? { kind: "ok", text: t(c.get("lang"), done) } : undefined);
  });
  app.post("/admin/webhooks", async (c) => {
    const form = await c.req.parseBody({ all: true });
    const url = typeof form.url === "string" ? form.url.trim() : "";
    const asked = ([] as unknown[]).concat(form.events ?? []);
    const events = WEBHOOK_EVENT_TYPES.filter((e) => asked.includes(e));
    const { db, config } = c.get("deps");
    const r = await attempt(() => {
      if (events.length === 0) throw new AppError("validation_error", "Choose at least one event.", { field: "events" });
      return createEndpoint(db, config, accountOf(c), { url, events });
    });
    if ("error" in r) return listPage(c, errorNotice(c.get("lang"), r.error), { url, events });
    return listPage(c, undefined, undefined, { id: r.ok.id, url: r.ok.url, secret: r.ok.secret });
  });
  for (const [action, enabled] of [
    ["enable", true],
    ["disable", false],
  ] as const) {
    app.post(`/admin/webhooks/:id/${action}`, async (c) => {
      const { db, config } = c.get("deps");
      const r = await attempt(() => updateEndpoint(db, config, accountOf(c), c.req.param("id") ?? "", { enabled }));
      if ("error" in r) return listPage(c, errorNotice(c.get("lang"), r.error));
      return c.redirect(`/admin/webhooks?done=${enabled ? "enabled" : "disabled"}`, 303);
    });
  }
  app.post("/admin/webhooks/:id/rotate", async (c) => {
    const { db, config } = c.get("deps");
    const id = c.req.param("id") ?? "";
    const r = await attempt(() => rotateSecret(db, config, accountOf(c), id));
    if ("error" in r) return listPage(c, errorNotice(c.get("lang"), r.error));
    return listPage(c, undefined, undefined, { id, secret: r.ok.secret });
  });
  app.post("/admin/webhooks/:id/delete", async (c) => {
    const r = await attempt(() => deleteEndpoint(c.get("deps").db, accountOf(c), c.req.param("id") ?? ""));
    if ("error" in r) return listPage(c, errorNotice(c.get("lang"), r.error));
    return c.redirect("/admin/webhooks?done=deleted", 303);
  });
  app.get("/admin/webhooks/:id", (c) => endpointPage(c));
  app.post("/admin/webhooks/:id/replay", async (c) => {
    const lang = c.get("lang");
    const tz = c.get("session").timeZone;
    const form = await c.req.parseBody();
    const typed = { since: String(form.since ?? ""), until: String(form.until ?? "") };
    const times = await attempt(async () => ({ since: fieldTime(typed.since, tz, "since"), until: fieldTime(typed.until, tz, "until") }));
    if ("error" in times) return endpointPage(c, errorNotice(lang, times.error), typed);
    const { since, until } = times.ok;
    const r = await attempt(() => replayEvents(c.get("deps").db, accountOf(c), c.req.param("id") ?? "", since, until));
    if ("ok" in r) return endpointPage(c, { kind: "ok", text: `${r.ok} ${t(lang, "replayed")}` }, typed);
    return endpointPage(c, replayNotice(c, r.error), typed);
  });
}

/** A datetime-local field read in the account's zone; anything else is refused by the field's name. */
function fieldTime(text: string, timeZone: string, field: "since" | "until"): Date {
  const at = new Date(localToRfc3339(text.trim(), timeZone));
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text.trim()) || Number.isNaN(at.getTime())) {
    throw new AppError("validation_error", `${field} is not a date and time.`, { field });
  }
  return at;
}

/** replayEvents' refusals in the console's words: with both times read, the fields it names mean the range's order and size. */
function replayNotice(c: ConsoleContext, err: AppError): Notice {
  const lang = c.get("lang");
  const key =
    err.code === "conflict"
      ? "replay:disabled"
      : err.code === "validation_error"
        ? { until: "replay:order", since: "replay:too_many" }[err.field ?? ""]
        : undefined;
  return key ? { kind: "error", text: errorText(lang, key), status: err.status } : errorNotice(lang, err);
}

function EventChoices({ c, chosen }: { c: ConsoleContext; chosen: readonly WebhookEventType[] }) {
  const lang = c.get("lang");
  return (
    <fieldset>
      <legend>{t(lang, "events")}</legend>
      {WEBHOOK_EVENT_TYPES.map((e) => (
        <label class="choice">
          <input type="checkbox" name="events" value={e} checked={chosen.includes(e)} /> {stateWord(lang, e)} <code>{e}</code>
        </label>
      ))}
    </fieldset>
  );
}

async function listPage(
  c: ConsoleContext,
  notice?: Notice,
  typed?: { url: string; events: WebhookEventType[] },
  secret?: { id: string; url?: string; secret: string },
) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  const endpoints = await listEndpoints(c.get("deps").db, accountOf(c));
  return page(
    c,
    { title: t(lang, "webhooks"), notice },
    <>
      <p class="hint">{t(lang, "webhookHelp")}</p>
      {secret ? (
        <div class="secret" role="status">
          <p>{t(lang, "shownOnce")}</p>
          <p>
            {`${t(lang, "secret")} (${secret.url ?? endpoints.find((e) => e.id === secret.id)?.url ?? secret.id}): `}
            <Copyable value={secret.secret} lang={lang} label={t(lang, "secret")} />
          </p>
        </div>
      ) : null}
      {endpoints.length === 0 ? <p>{t(lang, "noWebhooks")}</p> : <EndpointTable c={c} endpoints={endpoints} tz={tz} />}
      {endpoints.length < MAX_ENDPOINTS ? (
        <>
          <h2>{t(lang, "addWebhook")}</h2>
          <form method="post" action="/admin/webhooks" class="stack">
            <Csrf c={c} />
            <label>
              {t(lang, "url")}
              <input type="url" name="url" required maxlength={2000} size={50} value={typed?.url ?? ""} placeholder="https://app.example/hooks/hikyaku" />
            </label>
            <EventChoices c={c} chosen={typed?.events ?? ["delivered", "bounced", "expired"]} />
            <button type="submit">{t(lang, "addWebhook")}</button>
          </form>
        </>
      ) : null}
    </>,
  );
}

function EndpointTable({ c, endpoints, tz }: { c: ConsoleContext; endpoints: Endpoint[]; tz: string }) {
  const lang = c.get("lang");
  const button = (e: Endpoint, action: string, word: Parameters<typeof t>[1], danger = false) => (
    <form method="post" action={`/admin/webhooks/${e.id}/${action}`}>
      <Csrf c={c} />
      <button type="submit" class={danger ? "danger" : undefined} aria-label={`${t(lang, word)}: ${e.url}`}>
        {t(lang, word)}
      </button>
    </form>
  );
  return (
    <div class="scroll" tabindex={0}>
      <table>
        <thead>
          <tr>
            <th scope="col">{t(lang, "url")}</th>
            <th scope="col">{t(lang, "events")}</th>
            <th scope="col">{t(lang, "status")}</th>
            <th scope="col">{t(lang, "addedAt")}</th>
            <th scope="col">
              <span class="sr-only">{t(lang, "settings")}</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {endpoints.map((e) => (
            <tr class={e.enabled ? "webhook on" : "webhook off"}>
              <td>
                <a href={`/admin/webhooks/${e.id}`}>{e.url}</a>
              </td>
              <td>{e.events.map((x) => stateWord(lang, x)).join(", ")}</td>
              <td>
                {e.enabled ? t(lang, "enabled") : `${t(lang, "disabledBy")}${e.disabled_reason ? `: ${e.disabled_reason}` : ""}`}
                {e.failing_since ? <span class="svc">{`${t(lang, "failingSince")}: ${showTime(lang, tz, e.failing_since)}`}</span> : null}
                {e.previous_secret_expires_at ? (
                  <span class="svc">{`${t(lang, "previousSecretUntil")}: ${showTime(lang, tz, e.previous_secret_expires_at)}`}</span>
                ) : null}
              </td>
              <td>{showTime(lang, tz, e.created_at)}</td>
              <td class="actions">
                <a href={`/admin/webhooks/${e.id}`} aria-label={`${t(lang, "deliveries")}: ${e.url}`}>
                  {t(lang, "deliveries")}
                </a>
                {e.enabled ? button(e, "disable", "disable") : button(e, "enable", "enable")}
                {button(e, "rotate", "rotateSecret")}
                {button(e, "delete", "remove", true)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

async function endpointPage(c: ConsoleContext, notice?: Notice, typed?: { since: string; until: string }) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  const { db } = c.get("deps");
  const id = c.req.param("id") ?? "";
  const cursor = c.req.query("cursor")?.slice(0, 20) || undefined;
  const found = await attempt(async () => {
    const endpoint = await getEndpoint(db, accountOf(c), id);
    return { endpoint, deliveries: await listDeliveries(db, accountOf(c), endpoint.id, { limit: PAGE_SIZE, cursor }) };
  });
  if ("error" in found) return page(c, { title: t(lang, "webhooks"), notice: errorNotice(lang, found.error) }, <BackLink c={c} />);
  const { endpoint: e, deliveries } = found.ok;
  // The field holds minutes: the default range ends at the next minute, so it covers what just happened.
  const dayAgo = rfc3339ToLocal(new Date(nowMs() - 86_400_000).toISOString(), tz);
  const nextMinute = rfc3339ToLocal(new Date(nowMs() + 60_000).toISOString(), tz);
  return page(
    c,
    { title: `${t(lang, "webhooks")}: ${e.url}`, notice },
    <>
      <BackLink c={c} />
      <dl class="facts">
        <dt>{t(lang, "status")}</dt>
        <dd>{e.enabled ? t(lang, "enabled") : `${t(lang, "disabledBy")}${e.disabled_reason ? `: ${e.disabled_reason}` : ""}`}</dd>
        <dt>{t(lang, "events")}</dt>
        <dd>{e.events.map((x) => stateWord(lang, x)).join(", ")}</dd>
        <dt>{t(lang, "failingSince")}</dt>
        <dd>{showTime(lang, tz, e.failing_since)}</dd>
      </dl>
      <h2>{t(lang, "deliveries")}</h2>
      {deliveries.data.length === 0 ? (
        <p>{t(lang, "noDeliveries")}</p>
      ) : (
        <div class="scroll" tabindex={0}>
          <table class="log">
            <ColumnHeads lang={lang} words={["time", "event", "attempt", "result", "httpStatus", "responseTime", "error"]} />
            <tbody>
              {deliveries.data.map((d) => (
                <tr class={`wh-${d.result}`}>
                  <td>
                    <time datetime={d.time}>{showTime(lang, tz, d.time)}</time>
                  </td>
                  <td>{stateWord(lang, d.type)}</td>
                  <td>{String(d.attempt)}</td>
                  <td>
                    <span class={`badge ${d.result}`}>{stateWord(lang, d.result)}</span>
                  </td>
                  <td class="code">{d.status === null ? t(lang, "none") : String(d.status)}</td>
                  <td>{`${d.response_ms} ms`}</td>
                  <td>{d.error ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pages" aria-label={t(lang, "nextPage")}>
        {cursor ? <a href={`/admin/webhooks/${e.id}`}>{t(lang, "firstPage")}</a> : null}
        {deliveries.next_cursor ? (
          <a href={`/admin/webhooks/${e.id}?cursor=${deliveries.next_cursor}`} rel="next">
            {t(lang, "nextPage")}
          </a>
        ) : null}
      </nav>
      <h2>{t(lang, "replay")}</h2>
      <p class="hint">{t(lang, "replayHelp")}</p>
      <form method="post" action={`/admin/webhooks/${e.id}/replay`} class="inline">
        <Csrf c={c} />
        <label>
          {`${t(lang, "since")} (${tz})`}
          <input type="datetime-local" name="since" required value={typed?.since ?? dayAgo} />
        </label>
        <label>
          {`${t(lang, "until")} (${tz})`}
          <input type="datetime-local" name="until" required value={typed?.until ?? nextMinute} />
        </label>
        <button type="submit">{t(lang, "replay")}</button>
      </form>
    </>,
  );
}

const BackLink = ({ c }: { c: ConsoleContext }) => (
  <p>
    <a href="/admin/webhooks">{`← ${t(c.get("lang"), "webhooks")}`}</a>
  </p>
);
