// The /admin console end to end in a real browser (Debian's Chromium, playwright-core),
// part three, in Japanese: Japanese glyphs really render (not tofu); webhooks (create
// with the secret shown once, a real delivery to a loopback receiver with its status and
// time, disable, enable, replay, rotate); the suppression list (a hard bounce with its
// causing event, add, remove); the operator's destination policies. Every page is
// screenshotted into test/artifacts/ and checked with axe-core.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { checkPage, glyphsRender, reloadUntil, seen, startBrowser, type TestBrowser } from "./helpers/browser.ts";
import { eventually, type MxWorld, startWithMx } from "./helpers/service.ts";
import { type Receiver, startReceiver, verifyStandardWebhook } from "./helpers/webhook-receiver.ts";

const ADMIN = "test-admin-token-0123456789";
let world: MxWorld;
let rx: Receiver;
let browser: TestBrowser;

before(async () => {
  rx = await startReceiver();
  world = await startWithMx({ onRcpt: (rcpt) => (rcpt.startsWith("gone") ? { code: 550, message: "5.1.1 <gone@ok.test>: no such user" } : undefined) });
  browser = await startBrowser(world.hk.url, { locale: "ja-JP" });
});

after(async () => {
  await browser?.close();
  await world?.stop();
  await rx?.close();
});

test("Japanese renders as glyphs; webhooks with a real delivery, replay and rotation; suppressions; destination policies", async () => {
  const base = world.hk.url;
  await world.hk.service.db.sql`update accounts set suppression_list = true where id = ${world.hk.accountId}`;
  const page = await browser.newPage();
  await page.goto(`${base}/admin/sign-in`);
  assert.equal(await page.getAttribute("html", "lang"), "ja");
  // The sign-in page's own words, drawn in the page's font stack: each a different glyph, none the missing-glyph box.
  const glyphs = await glyphsRender(page, [..."飛脚管理画面配信"]);
  assert.deepEqual(glyphs.tofu, [], "Japanese characters drawn as the missing-glyph box: is fonts-noto-cjk installed?");
  assert.deepEqual(glyphs.blank, []);
  assert.equal(glyphs.distinct, 8, "eight different characters, eight different glyphs");
  await page.getByLabel("API キーまたは運用者トークン").fill(world.hk.key);
  await page.getByRole("button", { name: "サインイン" }).click();
  await page.waitForURL(`${base}/admin/logs`);

  // A webhook: the form, the secret shown once.
  await page.getByRole("link", { name: "Webhook", exact: true }).click();
  await page.getByLabel("送信先 URL").fill(rx.url);
  await page.getByRole("checkbox", { name: /expired/ }).uncheck();
  await page.getByRole("button", { name: "Webhook を追加" }).click();
  const secret = await seen(page.locator(".secret .copyable code"));
  assert.match(secret, /^whsec_/);
  await checkPage(page, "webhooks");

  // A message that bounces: the webhook arrives signed with that secret, and its suppression appears.
  const sent = await world.hk.api("POST", "/v1/messages", { from: "city@ok.test", to: "gone@ok.test", subject: "s", text: "t" });
  assert.equal(sent.status, 202, JSON.stringify(sent.body));
  const got = await eventually(async () => rx.received.find((r) => r.json?.message_id === sent.body.id), "the bounced webhook");
  assert.equal(got.json.type, "bounced");
  assert.ok(verifyStandardWebhook(secret, got.headers, got.body));

  // The endpoint's page: the attempt with its HTTP status and response time.
  await page.getByRole("link", { name: "Webhook", exact: true }).click();
  await page.getByRole("link", { name: `最近の送信: ${rx.url}` }).click();
  const row = () => page.locator("tr.wh-delivered", { hasText: "バウンス" });
  await reloadUntil(page, row, "the delivery row");
  assert.match(await seen(row().first()), /バウンス\s+1\s+配信済み\s+200\s+\d+ ms/);
  await checkPage(page, "webhook-deliveries");

  // Replay the last day: the same event again, with the same webhook-id.
  // (The bounce's DSN to city@ok.test was delivered too, and sent as a "delivered" event.)
  const logged = (await world.hk.api("GET", "/v1/logs?event=delivered,bounced")).body.data.length;
  const sentSoFar = await eventually(async () => {
    const n = new Set(rx.received.map((r) => r.headers["webhook-id"])).size;
    return n === logged ? n : undefined;
  }, "a webhook for each logged event");
  await page.getByRole("button", { name: "期間を指定して再送" }).click();
  assert.equal(await seen(page.getByRole("status")), `${sentSoFar} 件を再送の列に入れました。`);
  const both = await eventually(async () => {
    const xs = rx.received.filter((r) => r.json?.message_id === sent.body.id);
    return xs.length >= 2 ? xs : undefined;
  }, "the replayed webhook");
  assert.equal(both[1]?.headers["webhook-id"], both[0]?.headers["webhook-id"]);

  // Disable, enable, rotate.
  await page.getByRole("link", { name: "← Webhook" }).click();
  await page.getByRole("button", { name: `停止する: ${rx.url}` }).click();
  assert.match(await seen(page.locator("tr.webhook")), /停止中/);
  await page.getByRole("button", { name: `有効にする: ${rx.url}` }).click();
  assert.match(await seen(page.locator("tr.webhook")), /有効/);
  await page.getByRole("button", { name: `署名シークレットを更新: ${rx.url}` }).click();
  const rotated = await seen(page.locator(".secret .copyable code"));
  assert.match(rotated, /^whsec_/);
  assert.notEqual(rotated, secret);
  assert.match(await seen(page.locator("tr.webhook")), /旧シークレットも署名する期限/);

  // The suppression list: the hard bounce with its causing event, one added by hand, then removed.
  await page.getByRole("link", { name: "配信停止リスト" }).click();
  const bounced = page.locator("tr.suppression", { hasText: "gone@ok.test" });
  assert.match(await seen(bounced), /ハードバウンス[\s\S]*550 5\.1\.1/);
  assert.equal(await bounced.locator(`a[href="/admin/messages/${sent.body.id}"]`).count(), 1);
  await page.getByLabel("アドレス").fill("complained@ok.test");
  await page.getByLabel("理由").selectOption("complaint");
  await page.getByLabel("メモ").fill("電話で苦情");
  await page.getByRole("button", { name: "追加", exact: true }).click();
  assert.match(await seen(page.getByRole("status")), /追加しました/);
  assert.match(await seen(page.locator("tr.suppression", { hasText: "complained@ok.test" })), /苦情[\s\S]*電話で苦情/);
  await checkPage(page, "suppressions");
  await page.getByRole("button", { name: "削除: complained@ok.test" }).click();
  assert.match(await seen(page.getByRole("status")), /リストから外しました/);
  assert.equal(await page.locator("tr.suppression", { hasText: "complained@ok.test" }).count(), 0);
  assert.equal((await world.hk.api("GET", "/v1/suppressions")).body.data.length, 1);

  // The operator's destination policies.
  await page.getByRole("button", { name: "サインアウト" }).click();
  await page.getByLabel("API キーまたは運用者トークン").fill(ADMIN);
  await page.getByRole("button", { name: "サインイン" }).click();
  await page.waitForURL(`${base}/admin/operator`);
  await page.getByRole("link", { name: "宛先ポリシー" }).click();
  assert.match(await seen(page.locator("tr.policy", { hasText: "docomo.ne.jp" })), /docomo\.ne\.jp[\s\S]*組み込み/);
  assert.match(await seen(page.locator("tr.policy").last()), /^\*/);
  // The mail this test sent went through the `*` policy's budget for ok.test's MX group,
  // shown while it is fresh (within a minute), else the page says no budget has state.
  assert.match(await seen(page.locator("main")), /\*:ok\.test|まだ状態のある宛先はありません/);
  await checkPage(page, "destinations");
  assert.deepEqual(browser.cspViolations, [], "the pages run under their CSP without violations");
  await page.close();
});
