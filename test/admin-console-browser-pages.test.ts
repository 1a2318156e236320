// The /admin console end to end in a real browser (Debian's Chromium, playwright-core),
// part two: a domain's records (copy buttons, the per-record check against a loopback
// DNS server), API keys, usage with its charts, the manual, the switch to Japanese,
// sign-out, the operator view. Every page is screenshotted into test/artifacts/ and checked with axe-core.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { serviceCodes } from "../src/delivery/service-codes.ts";
import { checkPage, seen, startBrowser, type TestBrowser } from "./helpers/browser.ts";
import { eventually, type MxWorld, startWithMx } from "./helpers/service.ts";

const ADMIN = "test-admin-token-0123456789";
let world: MxWorld;
let browser: TestBrowser;

before(async () => {
  world = await startWithMx();
  browser = await startBrowser(world.hk.url, { locale: "en-US" });
});

after(async () => {
  await browser?.close();
  await world?.stop();
});

test("domains, API keys, usage, the manual, the language switch, sign-out and the operator view", async () => {
  const base = world.hk.url;
  const sent = await world.hk.api("POST", "/v1/messages", { from: "city@ok.test", to: "resident@ok.test", subject: "s", text: "t" });
  assert.equal(sent.status, 202);
  await eventually(async () => (await world.hk.api("GET", `/v1/messages/${sent.body.id}`)).body.state === "completed", "the delivery");

  const page = await browser.newPage();
  await page.goto(`${base}/admin`);
  assert.equal(await page.getAttribute("html", "lang"), "en");
  await page.getByLabel("API key or operator token").fill(world.hk.key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(`${base}/admin/logs`);

  // A domain: its records with copy buttons, and each record's status after a check.
  await page.getByRole("link", { name: "Domains" }).click();
  await page.getByLabel("Domain", { exact: true }).fill("shop.test");
  await page.getByRole("button", { name: "Add a domain" }).click();
  const card = page.locator("section.domain", { hasText: "shop.test" });
  assert.match(await seen(card), /_domainkey\.shop\.test[\s\S]*v=DKIM1; k=rsa; p=/);
  assert.match(await seen(card), /v=spf1 include:_spf\.hikyaku\.test ~all/);
  assert.match(await seen(card), /_dmarc\.shop\.test/);
  await card.getByRole("button", { name: "Copy: spf Value" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "v=spf1 include:_spf.hikyaku.test ~all");
  world.dns.records["shop.test"] = { TXT: [["v=spf1 include:_spf.hikyaku.test ~all"]] };
  await card.getByRole("button", { name: "Check DNS" }).click();
  assert.match(await seen(page.locator("section.domain tr", { hasText: "v=spf1" })), /found/);
  assert.match(await seen(page.locator("section.domain tr", { hasText: "k=rsa" })), /missing/);
  await checkPage(page, "domains");

  // API keys.
  await page.getByRole("link", { name: "API keys" }).click();
  assert.match(await seen(page.locator("tbody")), /in use by this session/);
  await checkPage(page, "keys");

  // The manual: every service code in its table, a link from it back into the console.
  await page.getByRole("link", { name: "Manual" }).click();
  assert.match(await seen(page.locator("h1")), /Manual/);
  assert.match(await seen(page.locator("#code-mta_sts_failed")), /mta_sts_failed\s*421 4\.7\.5\s*temporary \(retried\)\s*the destination fails/);
  assert.equal(await page.locator("table.manual-codes tbody tr").count(), Object.keys(serviceCodes).length);
  await checkPage(page, "manual");

  // Usage.
  await page.getByRole("link", { name: "Usage" }).click();
  assert.match(await seen(page.locator("dl.facts")), /Messages accepted\s*1\s/);
  assert.equal(await page.locator("svg.chart").count(), 2);
  assert.ok((await page.locator("rect.bar.delivered:not([height='0'])").count()) >= 1, "a day with a delivered bar");
  await checkPage(page, "usage");

  // The language switch, then sign-out.
  await page.getByRole("link", { name: "日本語" }).click();
  assert.equal(await page.getAttribute("html", "lang"), "ja");
  assert.match(await seen(page.locator("h1")), /利用状況/);
  await page.getByRole("link", { name: "配信ログ" }).click();
  assert.match(await seen(page.locator("tr.ev-delivered").first()), /配信済み/);
  await checkPage(page, "logs-ja");
  await page.getByRole("link", { name: "マニュアル" }).click();
  assert.match(await seen(page.locator("#code-shaped")), /shaped\s*451 4\.4\.5\s*一時的/);
  await checkPage(page, "manual-ja");
  await page.getByRole("button", { name: "サインアウト" }).click();
  await page.waitForURL(`${base}/admin/sign-in`);
  await page.goto(`${base}/admin/logs`);
  assert.equal(new URL(page.url()).pathname, "/admin/sign-in");

  // The operator view.
  await page.getByLabel("API キーまたは運用者トークン").fill(ADMIN);
  await page.getByRole("button", { name: "サインイン" }).click();
  await page.waitForURL(`${base}/admin/operator`);
  assert.match(await seen(page.locator("table")), /test/);
  await checkPage(page, "operator");
  assert.deepEqual(browser.cspViolations, [], "the pages run under their CSP without violations");
  await page.close();
});
