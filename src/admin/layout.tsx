// The page shell every console page shares: header with navigation and language switch,
// a notice, the content. No inline script or style: the CSP allows only /admin/assets.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Child } from "hono/jsx";
import type { ConsoleContext, Notice } from "./context.ts";
import { type Lang, t, type Word } from "./i18n.ts";

const ACCOUNT_NAV: [string, Word][] = [
  ["/admin/logs", "logs"],
  ["/admin/reception", "reception"],
  ["/admin/domains", "domains"],
  ["/admin/smtp", "smtp"],
  ["/admin/keys", "apiKeys"],
  ["/admin/webhooks", "webhooks"],
  ["/admin/suppressions", "suppressions"],
  ["/admin/usage", "usage"],
  ["/admin/manual", "manual"],
];
const OPERATOR_NAV: [string, Word][] = [
  ["/admin/operator", "accounts"],
  ["/admin/operator/destinations", "destinations"],
  ["/admin/manual", "manual"],
];

export function page(c: ConsoleContext, opts: { title: string; notice?: Notice | undefined; status?: number }, content: Child) {
  const lang = c.get("lang");
  const session = c.get("session") as ConsoleContext["var"]["session"] | undefined;
  const nav = session ? (session.accountId ? ACCOUNT_NAV : OPERATOR_NAV) : [];
  const here = c.req.path;
  return c.html(
    <html lang={lang}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${opts.title} · ${t(lang, "title")}`}</title>
        <link rel="stylesheet" href="/admin/assets/console.css" />
        <script src="/admin/assets/console.js" defer />
      </head>
      <body>
        <a class="skip" href="#main">
          {t(lang, "skip")}
        </a>
        <header>
          <span class="brand">飛脚 Hikyaku</span>
          {session ? (
            <span class="who">{session.accountId ? `${t(lang, "account")}: ${session.accountName ?? ""} (${session.timeZone})` : t(lang, "operator")}</span>
          ) : null}
          <nav aria-label={t(lang, "title")}>
            <ul>
              {nav.map(([href, word]) => (
                <li>
                  <a href={href} aria-current={here === href ? "page" : undefined}>
                    {t(lang, word)}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <LangSwitch lang={lang} back={here + new URL(c.req.url).search} />
          {session ? (
            <form method="post" action="/admin/sign-out" class="signout">
              <input type="hidden" name="_csrf" value={session.csrf} />
              <button type="submit">{t(lang, "signOut")}</button>
            </form>
          ) : null}
        </header>
        <main id="main">
          <h1>{opts.title}</h1>
          {opts.notice ? (
            <p class={`notice ${opts.notice.kind}`} role={opts.notice.kind === "error" ? "alert" : "status"}>
              {opts.notice.text}
            </p>
          ) : null}
          {content}
        </main>
      </body>
    </html>,
    (opts.status ?? opts.notice?.status ?? (opts.notice?.kind === "error" ? 422 : 200)) as 200,
  );
}

function LangSwitch({ lang, back }: { lang: Lang; back: string }) {
  const other: Lang = lang === "ja" ? "en" : "ja";
  return (
    <a class="lang" href={`/admin/lang/${other}?back=${encodeURIComponent(back)}`} lang={other} hreflang={other}>
      {other === "ja" ? "日本語" : "English"}
    </a>
  );
}

/** The form token every POST carries. */
export const Csrf = ({ c }: { c: ConsoleContext }) => <input type="hidden" name="_csrf" value={c.get("session").csrf} />;

/** A value with a copy button (the button works through /admin/assets/console.js). */
export function Copyable({ value, lang, label }: { value: string; lang: Lang; label: string }) {
  return (
    <span class="copyable">
      <code>{value}</code>
      <button type="button" class="copy" data-copy={value} data-done={t(lang, "copied")} aria-label={`${t(lang, "copy")}: ${label}`}>
        {t(lang, "copy")}
      </button>
    </span>
  );
}

/** A table's header row: one column heading per word, in the page's language. */
export function ColumnHeads({ lang, words }: { lang: Lang; words: Word[] }) {
  return (
    <thead>
      <tr>
        {words.map((w) => (
          <th scope="col">{t(lang, w)}</th>
        ))}
      </tr>
    </thead>
  );
}
