// The operator's destination policies: the built-in table (src/delivery/destination-policy.ts)
// and each budget's live state (readPoliciesInForce). Read-only: changes go through
// /v1/admin/destination-policies.
/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Hono } from "hono";
import { listPolicies } from "../../delivery/destination-policy.ts";
import { readPoliciesInForce } from "../../delivery/shaping-state.ts";
import type { ConsoleEnv } from "../context.ts";
import { t } from "../i18n.ts";
import { ColumnHeads, page } from "../layout.tsx";
import { showTime } from "../time.ts";

export function destinationPages(app: Hono<ConsoleEnv>) {
  app.get("/admin/operator/destinations", async (c) => {
    const lang = c.get("lang");
    const db = c.get("deps").db;
    const { overrides, states } = await readPoliciesInForce(db);
    const source = (builtIn: boolean, overridden: boolean) => t(lang, builtIn && overridden ? "sourceBoth" : overridden ? "sourceOverride" : "sourceBuiltIn");
    const perMinute = (n: number | null) => (n === null ? t(lang, "unlimited") : String(n));
    return page(
      c,
      { title: t(lang, "destinations") },
      <>
        <p class="hint">{t(lang, "destinationsHelp")}</p>
        <h2>{t(lang, "builtIn")}</h2>
        <div class="scroll" tabindex={0}>
          <table>
            <ColumnHeads
              lang={lang}
              words={["domain", "mxSuffixes", "maxConnections", "perMinute", "rcptPerTx", "perConnection", "idleClose", "tls", "policySource", "basis"]}
            />
            <tbody>
              {listPolicies(overrides).map(({ policy: p, builtIn, overridden }) => (
                <tr class="policy">
                  <th scope="row">
                    <code>{p.domain}</code>
                  </th>
                  <td>{p.mx_suffixes.join(" ") || t(lang, "none")}</td>
                  <td>{String(p.max_connections)}</td>
                  <td>{perMinute(p.messages_per_minute)}</td>
                  <td>{String(p.recipients_per_transaction)}</td>
                  <td>{String(p.messages_per_connection)}</td>
                  <td>{String(p.idle_close_seconds)}</td>
                  <td>{p.tls}</td>
                  <td>{source(builtIn, overridden)}</td>
                  <td>{p.basis}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <h2>{t(lang, "liveState")}</h2>
        {states.length === 0 ? (
          <p>{t(lang, "noLiveState")}</p>
        ) : (
          <div class="scroll" tabindex={0}>
            <table>
              <ColumnHeads
                lang={lang}
                words={["budget", "effectiveRate", "sentLastMinute", "rateFactor", "backoffUntil", "suspendedUntil", "connectionsInUse"]}
              />
              <tbody>
                {states.map((s) => (
                  <tr class="live">
                    <th scope="row">
                      <code>{s.key}</code>
                    </th>
                    <td>{perMinute(s.effective_messages_per_minute)}</td>
                    <td>{String(s.sent_last_minute)}</td>
                    <td>{String(s.rate_factor)}</td>
                    <td>{s.backoff_until ? `${showTime(lang, "UTC", s.backoff_until)} UTC` : t(lang, "none")}</td>
                    <td>{s.suspended_until ? `${showTime(lang, "UTC", s.suspended_until)} UTC` : t(lang, "none")}</td>
                    <td>{String(s.connections_in_use)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </>,
    );
  });
}
