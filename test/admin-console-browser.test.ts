// The /admin console end to end in a real browser (Debian's Chromium, playwright-core),
// part one: sign in (in Japanese, as the browser prefers), watch a sent message arrive
// in the log, its timeline, SMTP credentials that really log in and a source IP that
// really relays, filter by source IP, download the failures CSV. Every page is
// screenshotted into test/artifacts/ and checked with axe-core.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { checkPage, reloadUntil, seen, startBrowser, type TestBrowser } from "./helpers/browser.ts";
import { type MxWorld, startWithMx } from "./helpers/service.ts";
import { rawSmtp } from "./helpers/smtp-client.ts";

let world: MxWorld;
let browser: TestBrowser;

before(async () => {
  world = await startWithMx({
    onRcpt: (rcpt) => (rcpt.startsWith("bounce") ? { code: 550, message: "5.1.1 <bounce@ok.test>: user unknown here" } : undefined),
  });
  browser = await startBrowser(world.hk.url, { locale: "ja-JP" });
});

after(async () => {
  await browser?.close();
  await world?.stop();
});

test("sign in, a sent message in the log, its timeline, SMTP credentials and relay, the source-IP filter, the failures CSV", async () => {
  const page = await browser.newPage();
  const base = world.hk.url;

  // Signed out, the console sends us to the sign-in page, in Japanese (the browser prefers it).
  await page.goto(`${base}/admin/logs`);
  assert.equal(new URL(page.url()).pathname, "/admin/sign-in");
  assert.equal(await page.getAttribute("html", "lang"), "ja");
  await checkPage(page, "sign-in");
  await page.getByLabel("API キーまたは運用者トークン").fill("hk_00000000_wrong");
  await page.getByRole("button", { name: "サインイン" }).click();
  assert.match(await seen(page.getByRole("alert")), /サインインできませんでした/);
  await page.getByLabel("API キーまたは運用者トークン").fill(world.hk.key);
  await page.getByRole("button", { name: "サインイン" }).click();
  await page.waitForURL(`${base}/admin/logs`);
  assert.ok(!page.url().includes(world.hk.key));

  // A message sent through the API shows up delivered, with the destination's words and TLS.
  const sent = await world.hk.api("POST", "/v1/messages", {
    from: "city@ok.test",
    to: ["resident@ok.test", "bounce@ok.test"],
    subject: "避難指示",
    text: "訓練です",
  });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const id = sent.body.id as string;
  await reloadUntil(page, () => page.locator("tr.ev-delivered", { hasText: "resident@ok.test" }), "the delivered row");
  const delivered = page.locator("tr.ev-delivered", { hasText: "resident@ok.test" });
  assert.match(await seen(delivered), /250/);
  assert.match(await seen(delivered), /あり/, "TLS was used (the sink offers STARTTLS)");
  await reloadUntil(page, () => page.locator("tr.ev-bounced", { hasText: "bounce@ok.test" }), "the bounced row");
  assert.match(await seen(page.locator("tr.ev-bounced").first()), /550 5\.1\.1[\s\S]*user unknown here/);
  await checkPage(page, "logs");

  // The message's own page: each recipient's timeline.
  await page.locator(`a[href="/admin/messages/${id}"]`).first().click();
  await page.waitForURL(`${base}/admin/messages/${id}`);
  assert.match(await seen(page.locator("section.recipient", { hasText: "resident@ok.test" })), /配信済み[\s\S]*250/);
  await checkPage(page, "message");

  // SMTP: allow a source IP on the relay port, create a credential; both really work.
  await page.getByRole("link", { name: "SMTP" }).click();
  await page.getByLabel("リレーを許可する送信元 IP(最大 5 件)").fill("127.0.0.9");
  await page.getByRole("button", { name: "保存" }).click();
  assert.match(await seen(page.getByRole("status").first()), /保存しました/);
  await page.getByLabel("ユーザー名").fill("city-alerts");
  await page.getByRole("button", { name: "作成" }).click();
  const password = await seen(page.locator(".secret .copyable code").nth(1));
  assert.match(password, /^[A-Za-z0-9_-]{32}$/);
  await checkPage(page, "smtp");
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
  assert.equal(row.message_id, id);

  // The reception log: did it reach us.
  await page.getByRole("link", { name: "受付ログ" }).click();
  assert.ok((await page.locator("tbody tr", { hasText: "127.0.0.9" }).count()) >= 1);
  await checkPage(page, "reception");
  assert.deepEqual(browser.cspViolations, [], "the pages run under their CSP without violations");
  await page.close();
});
