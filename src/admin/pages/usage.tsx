// Usage: the month against the quota, the overage charge, and charts of messages per
// day and results per day (delivered, bounced, expired), drawn as plain SVG.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { dailyCounts } from "../../logs/daily-counts.ts";
import { monthlyUsage } from "../../logs/usage.ts";
import { accountOf, type ConsoleContext, type ConsoleEnv } from "../context.ts";
import { errorText, type Lang, t } from "../i18n.ts";
import { page } from "../layout.tsx";

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const RESULTS = ["delivered", "bounced", "expired"] as const;

export function usagePages(app: Hono<ConsoleEnv>) {
  app.get("/admin/usage", usagePage);
}

async function usagePage(c: ConsoleContext) {
  const lang = c.get("lang");
  const { db, config } = c.get("deps");
  const asked = c.req.query("month") || undefined;
  if (asked !== undefined && !MONTH.test(asked)) {
    return page(c, { title: t(lang, "usage"), notice: { kind: "error", text: errorText(lang, "validation_error:month") } }, <MonthForm lang={lang} month="" />);
  }
  const usage = await monthlyUsage(db, accountOf(c), asked, config.HIKYAKU_OVERAGE_PRICE_JPY);
  if (!usage) return c.redirect("/admin/sign-in", 303);
  const days = await dailyCounts(db, accountOf(c), usage.month, usage.time_zone);
  const num = new Intl.NumberFormat(lang === "ja" ? "ja-JP" : "en-GB");
  const yen = new Intl.NumberFormat(lang === "ja" ? "ja-JP" : "en-GB", { style: "currency", currency: "JPY", minimumFractionDigits: 2 });
  return page(
    c,
    { title: `${t(lang, "usage")} ${usage.month}` },
    <>
      <MonthForm lang={lang} month={usage.month} />
      <dl class="facts">
        <dt>{t(lang, "messagesAccepted")}</dt>
        <dd>{num.format(usage.messages_accepted)}</dd>
        <dt>{t(lang, "quota")}</dt>
        <dd>
          {usage.monthly_quota === null ? t(lang, "unlimited") : num.format(usage.monthly_quota)}
          {usage.monthly_quota ? (
            <progress max={usage.monthly_quota} value={Math.min(usage.messages_accepted, usage.monthly_quota)} aria-label={t(lang, "quota")} />
          ) : null}
        </dd>
        {RESULTS.map((r) => (
          <>
            <dt>{t(lang, r)}</dt>
            <dd>{num.format(usage[r])}</dd>
          </>
        ))}
        <dt>{t(lang, "overage")}</dt>
        <dd>{num.format(usage.overage)}</dd>
        <dt>{t(lang, "overageCharge")}</dt>
        <dd>{`${yen.format(usage.overage_charge_jpy)} (${yen.format(usage.overage_price_jpy)} × ${num.format(usage.overage)})`}</dd>
      </dl>
      <h2>{t(lang, "perDay")}</h2>
      <Bars label={t(lang, "perDay")} days={days.map((d) => ({ day: d.day, parts: [["accepted", d.accepted]] }))} />
      <h2>{t(lang, "resultsPerDay")}</h2>
      <Bars label={t(lang, "resultsPerDay")} days={days.map((d) => ({ day: d.day, parts: RESULTS.map((r) => [r, d[r]] as [string, number]) }))} />
      <p class="legend">
        {RESULTS.map((r) => (
          <span class={`key ${r}`}>{t(lang, r)}</span>
        ))}
      </p>
      <details>
        <summary>{t(lang, "day")}</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">{t(lang, "day")}</th>
              <th scope="col">{t(lang, "messagesAccepted")}</th>
              {RESULTS.map((r) => (
                <th scope="col">{t(lang, r)}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {days.map((d) => (
              <tr>
                <td>{d.day}</td>
                <td>{num.format(d.accepted)}</td>
                {RESULTS.map((r) => (
                  <td>{num.format(d[r])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </>,
  );
}

function MonthForm({ lang, month }: { lang: Lang; month: string }) {
  return (
    <form method="get" action="/admin/usage" class="inline">
      <label>
        {t(lang, "month")}
        <input type="month" name="month" value={month} />
      </label>
      <button type="submit">{t(lang, "show")}</button>
    </form>
  );
}

/** Stacked bars, one per day; sizes are SVG attributes, colours come from the stylesheet (no inline style under the CSP). */
function Bars({ label, days }: { label: string; days: { day: string; parts: [string, number][] }[] }) {
  const W = 18;
  const H = 120;
  const max = Math.max(1, ...days.map((d) => d.parts.reduce((a, [, n]) => a + n, 0)));
  return (
    <svg class="chart" role="img" aria-label={label} viewBox={`0 0 ${days.length * W} ${H + 14}`} width={days.length * W} height={H + 14}>
      {days.map((d, i) => {
        let y = H;
        return (
          <g>
            <title>{`${d.day}: ${d.parts.map(([k, n]) => `${k} ${n}`).join(", ")}`}</title>
            {d.parts.map(([k, n]) => {
              const h = Math.round((n / max) * H);
              y -= h;
              return <rect class={`bar ${k}`} x={i * W + 2} y={y} width={W - 4} height={h} />;
            })}
            {(i + 1) % 5 === 0 || i === 0 ? (
              <text x={i * W + W / 2} y={H + 12} class="tick">
                {String(i + 1)}
              </text>
            ) : null}
          </g>
        );
      })}
    </svg>
  );
}
