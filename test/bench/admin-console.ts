// Console bench: the log page over the log bench's million delivery events (test/bench/
// logs.ts loads them, or --reuse finds them), timed in the server (its Server-Timing
// header) and end to end, per filter; the page's weight; and in Chromium the time to
// first contentful paint of the log page.
//
//   node --import tsx test/bench/admin-console.ts [--events 1000000] [--samples 20] [--reuse] [--only <page>]...
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { loadConfig } from "../../src/config.ts";
import { connect } from "../../src/db/client.ts";
import { startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import { startService } from "../../src/service.ts";
import { freePort } from "../helpers/sink.ts";
import { load, reuse } from "./logs.ts";

const DAY = 86_400_000;
const { values } = parseArgs({
  options: { events: { type: "string" }, samples: { type: "string" }, reuse: { type: "boolean" }, only: { type: "string", multiple: true } },
});
/** --only <part of a scenario's name>, repeatable: time just those pages. */
const only = values.only;
const events = Number(values.events ?? 1_000_000);
const samples = Number(values.samples ?? 20);
const say = (line: string) => console.error(line);
const OPERATOR = "console-bench-operator-token";

let dir: string | undefined;
let stopEmbedded: (() => Promise<void>) | undefined;
let url = process.env.DATABASE_URL;
if (!url) {
  dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-console-bench-"));
  chmodSync(dir, 0o755);
  const embedded = await startEmbedded(dir, await freePort(), "console_bench");
  url = embedded.url;
  stopEmbedded = embedded.stop;
}
const db = connect(url, { max: 4 });
try {
  await migrate(db, url);
  const data = (values.reuse ? await reuse(db, events) : undefined) ?? (await load(db, events, say));
  const service = await startService(
    loadConfig({ DATABASE_URL: url, HIKYAKU_ROLES: "api", HIKYAKU_HTTP_PORT: "0", HIKYAKU_LOG_LEVEL: "warn", HIKYAKU_ADMIN_TOKEN: OPERATOR }),
  );
  try {
    const base = service.httpUrl ?? "";
    const cookie = await signIn(base, data.keys[0] ?? "");
    const operatorCookie = await signIn(base, OPERATOR);
    const local = (t: number) => new Date(t).toISOString().slice(0, 16);
    const day = data.start + 14 * DAY;
    const first = await fetch(`${base}/admin/logs?event=bounced`, { headers: { cookie } });
    const cursor = /href="\/admin\/logs\?[^"]*cursor=([^"&]+)"/.exec(await first.text())?.[1] ?? "";
    const scenarios: Record<string, string> = {
      newest: "/admin/logs",
      "event=bounced": "/admin/logs?event=bounced",
      "event=bounced,expired": "/admin/logs?event=bounced%2Cexpired",
      "recipient=@docomo.ne.jp": "/admin/logs?recipient=%40docomo.ne.jp",
      "source_ip (smtp)": "/admin/logs?source_ip=192.0.2.3",
      "source_ip never used": "/admin/logs?source_ip=203.0.113.99",
      "tag=evacuation (0.1%)": "/admin/logs?tag=evacuation",
      "since/until one day": `/admin/logs?since=${local(day)}&until=${local(day + DAY)}`,
      "page 2 (cursor)": `/admin/logs?event=bounced&cursor=${cursor}`,
      reception: "/admin/reception",
      usage: "/admin/usage",
      // The bench's events span the last 30 days: the month before this one holds most of them.
      "usage, previous month": `/admin/usage?month=${previousMonth()}`,
      domains: "/admin/domains",
      smtp: "/admin/smtp",
      "api keys": "/admin/keys",
      webhooks: "/admin/webhooks",
      suppressions: "/admin/suppressions",
      "operator (accounts, queue)": "/admin/operator",
      "operator: destination policies": "/admin/operator/destinations",
    };
    // The usage chart's first view after an upgrade rolls up the account's whole log once (src/logs/daily-counts.ts); time that apart.
    await db.sql`truncate log_counts, log_counts_until`;
    const rollUp = await fetch(`${base}/admin/usage?month=${previousMonth()}`, { headers: { cookie } });
    await rollUp.arrayBuffer();
    const firstRollUpMs = Number(/dur=([\d.]+)/.exec(rollUp.headers.get("server-timing") ?? "")?.[1]);
    say(`usage, first view (rolls up the account's whole log once): server ${firstRollUpMs} ms`);
    const result: Record<string, { server_p50: number; server_p99: number; total_p50: number; bytes: number }> = {};
    for (const [name, pathAndQuery] of Object.entries(scenarios)) {
      if (only && !only.some((o) => name.includes(o))) continue;
      const server: number[] = [];
      const total: number[] = [];
      let bytes = 0;
      for (let i = 0; i < samples + 2; i++) {
        const t0 = performance.now();
        const res = await fetch(base + pathAndQuery, { headers: { cookie: pathAndQuery.startsWith("/admin/operator") ? operatorCookie : cookie } });
        const body = await res.arrayBuffer();
        const ms = performance.now() - t0;
        if (res.status !== 200) throw new Error(`${name}: ${res.status}`);
        bytes = body.byteLength;
        if (i < 2) continue; // warm-up
        server.push(Number(/dur=([\d.]+)/.exec(res.headers.get("server-timing") ?? "")?.[1]));
        total.push(ms);
      }
      const at = (xs: number[], p: number) => Math.round((xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0) * 10) / 10;
      result[name] = { server_p50: at(server, 0.5), server_p99: at(server, 0.99), total_p50: at(total, 0.5), bytes };
      say(
        `${name.padEnd(26)} server p50 ${String(result[name].server_p50).padStart(6)} ms  p99 ${String(result[name].server_p99).padStart(6)} ms  total p50 ${String(result[name].total_p50).padStart(6)} ms  ${bytes} B`,
      );
    }
    const assets = await Promise.all(
      ["console.css", "console.js"].map(async (f) => (await (await fetch(`${base}/admin/assets/${f}`)).arrayBuffer()).byteLength),
    );
    say(`assets: console.css ${assets[0]} B, console.js ${assets[1]} B`);
    const paint = await firstPaint(base, cookie, "/admin/logs");
    say(`Chromium, log page (50 rows): first contentful paint p50 ${paint.p50} ms, max ${paint.max} ms over ${paint.n} loads`);
    // The same browser on the same machine, for a page that reads nothing from the database: what the machine itself costs.
    const baseline = await firstPaint(base, "", "/admin/sign-in");
    say(`Chromium, sign-in page (no query): first contentful paint p50 ${baseline.p50} ms, max ${baseline.max} ms`);
    console.log(
      JSON.stringify(
        {
          delivery_events: events,
          usage_first_roll_up_ms: firstRollUpMs,
          pages: result,
          assets_bytes: { css: assets[0], js: assets[1] },
          first_contentful_paint_ms: paint,
          sign_in_page_fcp_ms: baseline,
        },
        null,
        2,
      ),
    );
  } finally {
    await service.stop();
  }
} finally {
  await db.close();
  await stopEmbedded?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
}

function previousMonth(): string {
  const d = new Date();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() - 1);
  return d.toISOString().slice(0, 7);
}

async function signIn(base: string, key: string): Promise<string> {
  const form = await fetch(`${base}/admin/sign-in`);
  const pre = form.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? "";
  const res = await fetch(`${base}/admin/sign-in`, {
    method: "POST",
    redirect: "manual",
    headers: { cookie: pre, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ _csrf: csrf, key }).toString(),
  });
  const session = res.headers.getSetCookie().find((c) => c.startsWith("hk_session="));
  if (!session) throw new Error(`sign-in failed: ${res.status}`);
  return session.split(";")[0] ?? "";
}

async function firstPaint(base: string, cookie: string, pagePath: string) {
  const profile = mkdtempSync(path.join(os.tmpdir(), "hikyaku-bench-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const [name, value] = cookie.split("=");
    if (name && value) await context.addCookies([{ name, value, url: `${base}/admin` }]);
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      // A fresh page each time: a reloaded page may not report its paint again.
      const page = await context.newPage();
      await page.goto(base + pagePath, { waitUntil: "load" });
      const fcp = await page.evaluate(
        () =>
          new Promise<number>((resolve) => {
            new PerformanceObserver((list) => {
              const entry = list.getEntriesByName("first-contentful-paint")[0];
              if (entry) resolve(entry.startTime);
            }).observe({ type: "paint", buffered: true });
          }),
      );
      await page.close();
      if (i > 1) times.push(Math.round(fcp));
    }
    times.sort((a, b) => a - b);
    return { p50: times[Math.floor(times.length / 2)], max: times[times.length - 1], n: times.length };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
