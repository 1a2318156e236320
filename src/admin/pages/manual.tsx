// The manual: how to tell whether a message arrived and why not, what each event and each
// of Hikyaku's own codes means (the table is built from src/delivery/service-codes.ts),
// how to send over SMTP (the ports of the running config) and the API, the DNS records of
// a domain, and the failures CSV. Static words from i18n.ts; no link leaves the service.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import type { Child } from "hono/jsx";
import { type ServiceCode, serviceCodes } from "../../delivery/service-codes.ts";
import { spfInclude } from "../../domains/dns-records.ts";
import type { ConsoleContext, ConsoleEnv } from "../context.ts";
import { eventMeaning, type Lang, mt, serviceCodeMeaning, stateWord, t, type Word } from "../i18n.ts";
import { ColumnHeads, page } from "../layout.tsx";

const SECTIONS = [
  ["arrived", "arrivedTitle"],
  ["events", "eventsTitle"],
  ["codes", "codesTitle"],
  ["smtp", "smtpTitle"],
  ["api", "apiTitle"],
  ["domains", "domainsTitle"],
  ["csv", "csvTitle"],
  ["other", "otherTitle"],
] as const;

export function manualPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/manual", manualPage);
}

function manualPage(c: ConsoleContext) {
  const lang = c.get("lang");
  const config = c.get("deps").config;
  // The operator reads the same manual; the account pages it names are links only for an account.
  const forAccount = c.get("session").accountId !== null;
  const to = (href: string, word: Word) => <PageLink href={forAccount ? href : undefined} text={t(lang, word)} />;
  const docs = <a href="/docs">{mt(lang, "docsLink")}</a>;
  return page(
    c,
    { title: t(lang, "manual") },
    <div class="manual">
      <p>
        {mt(lang, "intro")} {docs}
      </p>
      <nav aria-label={t(lang, "contents")}>
        <ul class="toc">
          {SECTIONS.map(([id, word]) => (
            <li>
              <a href={`#${id}`}>{mt(lang, word)}</a>
            </li>
          ))}
        </ul>
      </nav>

      <h2 id="arrived">{mt(lang, "arrivedTitle")}</h2>
      <p>
        {mt(lang, "arrived")} {to("/admin/logs", "logs")} · {to("/admin/reception", "reception")}
      </p>
      <ol>
        <li>{mt(lang, "step1")}</li>
        <li>{mt(lang, "step2")}</li>
        <li>{mt(lang, "step3")}</li>
        <li>{mt(lang, "step4")}</li>
        <li>{mt(lang, "step5")}</li>
      </ol>
      <p class="hint">{mt(lang, "filters")}</p>

      <h2 id="events">{mt(lang, "eventsTitle")}</h2>
      <div class="scroll" tabindex={0}>
        <table class="manual-events">
          <ColumnHeads lang={lang} words={["event", "meaning"]} />
          <tbody>
            {Object.entries(eventMeaning).map(([event, meaning]) => (
              <tr>
                <th scope="row">
                  {stateWord(lang, event.replace(/^reception\./, ""))}
                  {event.startsWith("reception.") ? ` (${t(lang, "reception")})` : ""} <code>{event}</code>
                </th>
                <td>{meaning[lang]}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <h2 id="codes">{mt(lang, "codesTitle")}</h2>
      <p>{mt(lang, "codesIntro")}</p>
      <ServiceCodeTable lang={lang} />

      <h2 id="smtp">{mt(lang, "smtpTitle")}</h2>
      <dl class="facts">
        <dt>{mt(lang, "server")}</dt>
        <dd>
          <code>{config.HIKYAKU_HOSTNAME}</code>
        </dd>
        <dt>{`${mt(lang, "relayPort")} ${config.HIKYAKU_SMTP_RELAY_PORT}`}</dt>
        <dd>{mt(lang, "relay")}</dd>
        <dt>{`${mt(lang, "submissionPort")} ${config.HIKYAKU_SMTP_SUBMISSION_PORT}`}</dt>
        <dd>{mt(lang, "submission")}</dd>
        <dt>{`${mt(lang, "smtpsPort")} ${config.HIKYAKU_SMTPS_PORT}`}</dt>
        <dd>{mt(lang, "smtps")}</dd>
      </dl>
      <p>
        {mt(lang, "tlsOnly")} {to("/admin/smtp", "smtp")}
      </p>

      <h2 id="api">{mt(lang, "apiTitle")}</h2>
      <p>
        {mt(lang, "api")} {to("/admin/keys", "apiKeys")} · {docs}
      </p>

      <h2 id="domains">{mt(lang, "domainsTitle")}</h2>
      <p>
        {mt(lang, "domains")} {to("/admin/domains", "domains")}
      </p>
      <ul>
        <li>
          <strong>DKIM</strong>: {mt(lang, "dkim")}
        </li>
        <li>
          <strong>SPF</strong>: {mt(lang, "spf")} <code>{`include:${spfInclude(config)}`}</code>
        </li>
        <li>
          <strong>DMARC</strong>: {mt(lang, "dmarc")}
        </li>
        <li>
          <strong>Return-Path</strong>: {mt(lang, "returnPath")}
        </li>
      </ul>

      <h2 id="csv">{mt(lang, "csvTitle")}</h2>
      <ol>
        <li>
          {mt(lang, "csv1")} {to("/admin/logs", "logs")}
        </li>
        <li>{mt(lang, "csv2")}</li>
        <li>{mt(lang, "csv3")}</li>
        <li>{mt(lang, "csv4")}</li>
      </ol>

      <h2 id="other">{mt(lang, "otherTitle")}</h2>
      <ul>
        <li>
          {to("/admin/suppressions", "suppressions")}: {mt(lang, "suppressions")}
        </li>
        <li>
          {to("/admin/webhooks", "webhooks")}: {mt(lang, "webhooks")}
        </li>
      </ul>
    </div>,
  );
}

/** Every service code, from the one table in src/delivery/service-codes.ts, with its sentence. */
function ServiceCodeTable({ lang }: { lang: Lang }) {
  return (
    <div class="scroll" tabindex={0}>
      <table class="manual-codes">
        <ColumnHeads lang={lang} words={["serviceCode", "code", "codeClass", "meaning"]} />
        <tbody>
          {(Object.entries(serviceCodes) as [ServiceCode, (typeof serviceCodes)[ServiceCode]][]).map(([name, sc]) => (
            <tr id={`code-${name}`}>
              <th scope="row">
                <code>{name}</code>
              </th>
              <td>
                <code>{`${sc.code} ${sc.enhanced}`}</code>
              </td>
              <td>{t(lang, sc.code >= 500 ? "classFinal" : "classTemporary")}</td>
              <td>{serviceCodeMeaning[name][lang]}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A console page named in the text: a link for an account, plain words for the operator. */
function PageLink({ href, text }: { href: string | undefined; text: string }): Child {
  return href ? <a href={href}>{text}</a> : <span>{text}</span>;
}
