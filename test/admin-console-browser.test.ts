// The /admin console end to end in a real browser (Debian's Chromium driven by
// playwright-core): sign in, watch a sent message arrive in the log, filter by source IP,
// download the failures CSV, SMTP credentials that really log in, a domain's records and
// their check, usage, the language switch, sign-out. Each page is screenshotted into
// test/artifacts/ and checked with axe-core: no serious or critical violations.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { eventually, type MxWorld, startWithMx } from "./helpers/service.ts";
import { rawSmtp } from "./helpers/smtp-client.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = path.resolve("test/artifacts");
const ADMIN = "test-admin-token-0123456789";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

let world: MxWorld;
let context: BrowserContext;
let profile: string;
const cspViolations: string[] = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  world = await startWithMx({
    onRcpt: (rcpt) => (rcpt.startsWith("bounce") ? { code: 550, message: "5.1.1 <bounce@ok.test>: user unknown here" } : undefined),
  });
  profile = mkdtempSync(path.join(os.tmpdir(), "hikyaku-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    locale: "ja-JP",
    acceptDownloads: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60_000,
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: world.hk.url });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await world?.stop();
});

/** A screenshot for the CI artifacts, and axe-core's verdict on the page as rendered. */
async function check(page: Page, name: string) {
  await page.screenshot({ path: path.join(ARTIFACTS, `admin-${name}.png`), fullPage: true });
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await (globalThis as any).axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v: any) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n: any) => n.target.join(" ")).slice(0, 3) }));
  });
  const bad = violations.filter((v: { impact: string }) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${name}: accessibility violations ${JSON.stringify(bad)}`);
}

/** The text a person sees in the element (rendered text, not the DOM's textContent). */
// biome-ignore lint/performance/useDomNodeTextContent: playwright's innerText is the rendered text, which is what the test asserts
const seen = (l: Locator) => l.innerText();

async function send(body: unknown) {
  const r = await world.hk.api("POST", "/v1/messages", body);
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body as { id: string };
}

/** Reloads until the page shows `text` (the log is queryable within a second; allow for a loaded machine). */
async function reloadUntil(page: Page, locator: () => ReturnType<Page["locator"]>, what: string) {
  await eventually(
    async () => {
      await page.reload();
      return (await locator().count()) > 0;
    },
    what,
    30_000,
  );
}

test("the console in a browser: sign in, log, filters, CSV, SMTP, domains, usage, language, sign-out", async () => {
  const page = await context.newPage();
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });
  const base = world.hk.url;

  // Signed out, the console sends us to the sign-in page, in Japanese (the browser prefers it).
  await page.goto(`${base}/admin/logs`);
  assert.equal(new URL(page.url()).pathname, "/admin/sign-in");
  assert.equal(await page.getAttribute("html", "lang"), "ja");
  await check(page, "sign-in");
  await page.getByLabel("API キーまたは運用者トークン").fill("hk_00000000_wrong");
  await page.getByRole("button", { name: "サインイン" }).click();
  assert.match(await seen(page.getByRole("alert")), /サインインできませんでした/);
  await page.getByLabel("API キーまたは運用者トークン").fill(world.hk.key);
  await page.getByRole("button", { name: "サインイン" }).click();
  await page.waitForURL(`${base}/admin/logs`);
  assert.ok(!page.url().includes(world.hk.key));

  // A message sent through the API shows up delivered, with the destination's words and TLS.
  const sent = await send({ from: "city@ok.test", to: ["resident@ok.test", "bounce@ok.test"], subject: "避難指示", text: "訓練です" });
  await reloadUntil(page, () => page.locator("tr.ev-delivered", { hasText: "resident@ok.test" }), "the delivered row");
  const delivered = page.locator("tr.ev-delivered", { hasText: "resident@ok.test" });
  assert.match(await seen(delivered), /250/);
  assert.match(await seen(delivered), /あり/, "TLS was used (the sink offers STARTTLS)");
  await reloadUntil(page, () => page.locator("tr.ev-bounced", { hasText: "bounce@ok.test" }), "the bounced row");
  assert.match(await seen(page.locator("tr.ev-bounced").first()), /550 5\.1\.1[\s\S]*user unknown here/);
  await check(page, "logs");

  // The message's own page: each recipient's timeline.
  await page.locator(`a[href="/admin/messages/${sent.id}"]`).first().click();
  await page.waitForURL(`${base}/admin/messages/${sent.id}`);
  assert.match(await seen(page.locator("section.recipient", { hasText: "resident@ok.test" })), /配信済み[\s\S]*250/);
  await check(page, "message");

  // SMTP: allow a source IP on the relay port, create a credential; both really work.
  await page.getByRole("link", { name: "SMTP" }).click();
  await page.getByLabel("リレーを許可する送信元 IP(最大 5 件)").fill("127.0.0.9");
  await page.getByRole("button", { name: "保存" }).click();
  assert.match(await seen(page.getByRole("status").first()), /保存しました/);
  await page.getByLabel("ユーザー名").fill("city-alerts");
  await page.getByRole("button", { name: "作成" }).click();
  const password = await seen(page.locator(".secret .copyable code").nth(1));
  assert.match(password, /^[A-Za-z0-9_-]{32}$/);
  await check(page, "smtp");
  const smtp = world.hk.service.smtp;
  assert.ok(smtp);
  const sub = await rawSmtp({ port: smtp.submissionPort });
  await sub.command("EHLO client.test");
  await sub.starttls();
  await sub.command("EHLO client.test");
  const auth = await sub.command(`AUTH PLAIN ${Buffer.from(`\0city-alerts\0${password}`).toString("base64")}`);
  assert.equal(auth.code, 235, auth.text);
  sub.close();
  const relay = await rawSmtp({ port: smtp.relayPort, localAddress: "127.0.0.9" });
  await relay.command("EHLO relay.test");
  assert.equal((await relay.command("MAIL FROM:<city@ok.test>")).code, 250);
  assert.equal((await relay.command("RCPT TO:<relayed@ok.test>")).code, 250);
  assert.equal((await relay.command("DATA")).code, 354);
  const accepted = await relay.command("From: city@ok.test\r\nTo: relayed@ok.test\r\nSubject: relay\r\n\r\nhello\r\n.");
  assert.equal(accepted.code, 250, accepted.text);
  relay.close();

  // Filter by source IP: only the relayed message.
  await page.getByRole("link", { name: "配信ログ" }).click();
  await page.getByLabel("送信元 IP").fill("127.0.0.9");
  await page.getByRole("button", { name: "絞り込み" }).click();
  await reloadUntil(page, () => page.locator("tr.ev-delivered", { hasText: "relayed@ok.test" }), "the relayed row");
  assert.equal(new URL(page.url()).searchParams.get("source_ip"), "127.0.0.9");
  assert.equal(await page.locator("tbody tr", { hasText: "resident@ok.test" }).count(), 0);
  assert.equal(await page.locator("tbody tr").count(), await page.locator("tbody tr", { hasText: "127.0.0.9" }).count());

  // Failures as CSV, for the current filter (cleared): exactly the bounce.
  await page.getByRole("link", { name: "条件を消す" }).click();
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "失敗を CSV でダウンロード" }).click()]);
  const csv = readFileSync((await download.path()) ?? "", "utf8")
    .trim()
    .split("\r\n");
  const header = csv[0]?.split(",") ?? [];
  const rows = csv.slice(1).map((l) => l.split(","));
  assert.equal(rows.length, 1, csv.join("\n"));
  const row = Object.fromEntries(header.map((h, i) => [h, rows[0]?.[i]]));
  assert.equal(row.event, "bounced");
  assert.equal(row.recipient, "bounce@ok.test");
  assert.equal(row.code, "550");
  assert.equal(row.message_id, sent.id);

  // The reception log: did it reach us.
  await page.getByRole("link", { name: "受付ログ" }).click();
  assert.ok((await page.locator("tbody tr", { hasText: "127.0.0.9" }).count()) >= 1);
  await check(page, "reception");

  // A domain: its records with copy buttons, and each record's status after a check.
  await page.getByRole("link", { name: "ドメイン" }).click();
  await page.getByLabel("ドメイン", { exact: true }).fill("shop.test");
  await page.getByRole("button", { name: "ドメインを追加" }).click();
  const card = page.locator("section.domain", { hasText: "shop.test" });
  assert.match(await seen(card), /_domainkey\.shop\.test[\s\S]*v=DKIM1; k=rsa; p=/);
  assert.match(await seen(card), /v=spf1 include:_spf\.hikyaku\.test ~all/);
  assert.match(await seen(card), /_dmarc\.shop\.test/);
  await card.getByRole("button", { name: "コピー: spf 値" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "v=spf1 include:_spf.hikyaku.test ~all");
  world.dns.records["shop.test"] = { TXT: [["v=spf1 include:_spf.hikyaku.test ~all"]] };
  await card.getByRole("button", { name: "DNS を確認" }).click();
  const spfRow = page.locator("section.domain tr", { hasText: "v=spf1" });
  assert.match(await seen(spfRow), /確認済み/);
  assert.match(await seen(page.locator("section.domain tr", { hasText: "k=rsa" })), /見つかりません/);
  await check(page, "domains");

  // API keys and usage.
  await page.getByRole("link", { name: "API キー" }).click();
  assert.match(await seen(page.locator("tbody")), /この画面で使用中/);
  await check(page, "keys");
  await page.getByRole("link", { name: "利用状況" }).click();
  assert.match(await seen(page.locator("dl.facts")), /受付メッセージ数\s*2\s/);
  assert.equal(await page.locator("svg.chart").count(), 2);
  assert.ok((await page.locator("rect.bar.delivered").count()) >= 1);
  await check(page, "usage");

  // The language switch, then sign-out.
  await page.getByRole("link", { name: "English" }).click();
  assert.equal(await page.getAttribute("html", "lang"), "en");
  assert.match(await seen(page.locator("h1")), /Usage/);
  await page.getByRole("link", { name: "Delivery log" }).click();
  assert.match(await seen(page.locator("tr.ev-bounced").first()), /bounced/);
  await check(page, "logs-en");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${base}/admin/sign-in`);
  await page.goto(`${base}/admin/logs`);
  assert.equal(new URL(page.url()).pathname, "/admin/sign-in");

  // The operator view.
  await page.getByLabel("API key or operator token").fill(ADMIN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/admin/operator`);
  assert.match(await seen(page.locator("table")), /test/);
  await check(page, "operator");
  assert.deepEqual(cspViolations, [], "the pages run under their CSP without violations");
  await page.close();
});
