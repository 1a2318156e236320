// Sending domains: add one, the DNS records to publish (with copy buttons), the status of
// each record after a check, and key rotation; the same functions as /v1/domains.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { domainFromPath, domainView } from "../../api/routes/domains.ts";
import { checkDomainName } from "../../domains/domain-name.ts";
import { createDomain, keysOf, listDomains, rotateKeys } from "../../domains/domain-store.ts";
import { type Check, verifyDomain } from "../../domains/verify-domain.ts";
import { accountOf, attempt, type ConsoleContext, type ConsoleEnv, errorNotice, formFields, type Notice } from "../context.ts";
import { stateWord, t } from "../i18n.ts";
import { ColumnHeads, Copyable, Csrf, page } from "../layout.tsx";
import { showTime } from "../time.ts";

type DomainView = ReturnType<typeof domainView>;

export function domainPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/domains", (c) => domainsPage(c));
  app.post("/admin/domains", async (c) => {
    const deps = c.get("deps");
    const name = (await formFields(c)).domain ?? "";
    const r = await attempt(() => createDomain(deps, accountOf(c), checkDomainName(name), false));
    if ("error" in r) return domainsPage(c, errorNotice(c.get("lang"), r.error));
    return c.redirect(`/admin/domains#d-${r.ok.domain}`, 303);
  });
  app.post("/admin/domains/:domain/verify", async (c) => {
    const deps = c.get("deps");
    const r = await attempt(async () => {
      const row = await domainFromPath(deps, accountOf(c), c.req.param("domain") ?? "");
      return { domain: row.domain, checks: await verifyDomain(deps, row) };
    });
    if ("error" in r) return domainsPage(c, errorNotice(c.get("lang"), r.error));
    return domainsPage(c, undefined, r.ok);
  });
  app.post("/admin/domains/:domain/rotate", async (c) => {
    const deps = c.get("deps");
    const r = await attempt(async () => rotateKeys(deps, await domainFromPath(deps, accountOf(c), c.req.param("domain") ?? "")));
    if ("error" in r) return domainsPage(c, errorNotice(c.get("lang"), r.error));
    return c.redirect(`/admin/domains#d-${c.req.param("domain")}`, 303);
  });
}

async function domainsPage(c: ConsoleContext, notice?: Notice, checked?: { domain: string; checks: Check[] }) {
  const lang = c.get("lang");
  const deps = c.get("deps");
  const rows = await listDomains(deps.db, accountOf(c), 100);
  const keys = await keysOf(
    deps.db,
    rows.map((d) => d.id),
  );
  const views = rows.map((d) => domainView(d, keys.get(d.id) ?? [], deps.config));
  return page(
    c,
    { title: t(lang, "domains"), notice },
    <>
      <form method="post" action="/admin/domains" class="inline">
        <Csrf c={c} />
        <label>
          {t(lang, "domain")}
          <input type="text" name="domain" required maxlength={300} placeholder="shop.example.jp" autocomplete="off" />
        </label>
        <button type="submit">{t(lang, "addDomain")}</button>
      </form>
      {views.length === 0 ? <p>{t(lang, "noDomains")}</p> : null}
      {views.map((d) => (
        <DomainCard c={c} d={d} checks={checked?.domain === d.domain ? checked.checks : undefined} />
      ))}
    </>,
  );
}

function DomainCard({ c, d, checks }: { c: ConsoleContext; d: DomainView; checks: Check[] | undefined }) {
  const lang = c.get("lang");
  const tz = c.get("session").timeZone;
  const statusOf = (name: string, purpose: string) => checks?.find((k) => k.name === name && k.purpose === purpose);
  return (
    <section class="domain" id={`d-${d.domain}`}>
      <h2>
        {d.unicode} <span class={`badge ${d.status}`}>{stateWord(lang, d.status)}</span>
      </h2>
      <p class="hint">{`${t(lang, "createdAt")}: ${showTime(lang, tz, d.created_at)}`}</p>
      <h3>{t(lang, "records")}</h3>
      <div class="scroll" tabindex={0}>
        <table>
          <ColumnHeads lang={lang} words={["type", "name", "value", "status"]} />
          <tbody>
            {d.records.map((r) => {
              const check = statusOf(r.name, r.purpose);
              const key = d.dkim_keys.find((k) => k.selector === r.selector && k.algorithm === r.algorithm);
              const status = check?.status ?? (key ? key.state : undefined);
              return (
                <tr>
                  <td>
                    {`${r.type} (${r.purpose.toUpperCase()}${r.algorithm ? ` ${r.algorithm}` : ""}) `}
                    <span class="hint">{t(lang, r.required ? "required" : "recommended")}</span>
                  </td>
                  <td>
                    <Copyable value={r.name} lang={lang} label={`${r.purpose} ${t(lang, "name")}`} />
                  </td>
                  <td class="value">
                    <Copyable value={r.value} lang={lang} label={`${r.purpose} ${t(lang, "value")}`} />
                  </td>
                  <td>
                    {status ? <span class={`badge ${status}`}>{stateWord(lang, status)}</span> : t(lang, "none")}
                    {check ? <span class="hint">{check.detail}</span> : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <div class="actions">
        <form method="post" action={`/admin/domains/${d.domain}/verify`}>
          <Csrf c={c} />
          <button type="submit">{t(lang, "verify")}</button>
        </form>
        <form method="post" action={`/admin/domains/${d.domain}/rotate`}>
          <Csrf c={c} />
          <button type="submit">{t(lang, "rotate")}</button>
        </form>
      </div>
    </section>
  );
}
