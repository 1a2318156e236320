// The suppression list end to end: a real 5.1.1 from a loopback MX adds the recipient
// (only for an account that opted in); a later send through either door ends it at once
// as `suppressed`, without an attempt, while the message's other recipients are
// delivered; the list is paged, added to and removed from over HTTP.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import nodemailer from "nodemailer";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

let dns: TestDns;
let sink: Sink;
let hk: TestService;
const ADMIN = { authorization: "Bearer test-admin-token-0123456789" };

before(async () => {
  sink = await startSink({
    host: "127.0.0.2",
    onRcpt: (address) => {
      const rcpt = address.toLowerCase();
      if (rcpt.startsWith("gone")) return { code: 550, message: "5.1.1 user unknown" };
      if (rcpt.startsWith("policy")) return { code: 550, message: "5.7.1 rejected by policy" };
      if (rcpt.startsWith("full")) return { code: 452, message: "4.2.2 mailbox full" };
      return undefined;
    },
  });
  dns = await startDns({ "ok.test": { MX: [{ exchange: "mx1.ok.test", priority: 10 }] }, "mx1.ok.test": { A: ["127.0.0.2"] } });
  hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port), HIKYAKU_LIFETIME: "10" });
  const on = await hk.api("PATCH", `/v1/admin/accounts/${hk.accountId}`, { suppression_list: true }, ADMIN);
  assert.equal(on.status, 200, JSON.stringify(on.body));
  assert.equal(on.body.suppression_list, true);
  assert.equal((await hk.api("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] })).status, 200);
});

after(async () => {
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

type Api = TestService["api"];

async function send(api: Api, to: string[]) {
  const r = await api("POST", "/v1/messages", { from: "shop@shop.test", to, subject: "Order", text: "Thanks" });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body as { id: string; message_id: string; recipients: { email: string; state: string }[] };
}

async function finalEvents(api: Api, messageId: string, n: number): Promise<any[]> {
  return eventually(async () => {
    const r = await api("GET", `/v1/logs?message_id=${messageId}`);
    const finals = (r.body.data ?? []).filter((e: any) => e.event !== "deferred");
    return finals.length >= n ? finals : undefined;
  }, `${n} final events of ${messageId}`);
}

async function list(api: Api, query = ""): Promise<any> {
  const r = await api("GET", `/v1/suppressions${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

describe("suppression list", () => {
  test("a 5.1.1 bounce adds the recipient, with the event that caused it; 5.7.x and 4xx do not", async () => {
    const m = await send(hk.api, ["Gone1@ok.test", "policy1@ok.test", "full1@ok.test", "fine1@ok.test"]);
    const events = await finalEvents(hk.api, m.id, 4);
    const bounce = events.find((e) => e.recipient === "Gone1@ok.test");
    assert.equal(bounce.event, "bounced");
    const page = await list(hk.api);
    const entries = page.data.filter((s: any) => s.message_id === m.id);
    assert.equal(entries.length, 1, `only the 5.1.1 recipient is suppressed: ${JSON.stringify(page.data)}`);
    assert.equal(entries[0].address, "gone1@ok.test");
    assert.equal(entries[0].reason, "hard_bounce");
    assert.equal(entries[0].event_id, bounce.id);
    assert.match(entries[0].detail, /^550 5\.1\.1 /);
    // The bounce's DSN goes to shop@shop.test, a domain that does not exist (5.1.2): the
    // service's own bounces never suppress anyone.
    const dsnBounce = await eventually(async () => {
      const r = await hk.api("GET", "/v1/logs?recipient=shop@shop.test&event=bounced");
      return r.body.data?.[0];
    }, "the DSN's own bounce");
    assert.equal(dsnBounce.enhanced_code, "5.1.2");
    assert.equal(dsnBounce.envelope_sender, "");
    assert.ok(!(await list(hk.api)).data.some((s: any) => s.address === "shop@shop.test"), "a DSN's bounce adds nobody");
  });

  test("a later HTTP send ends the suppressed recipient at once and delivers the others", async () => {
    await send(hk.api, ["gone2@ok.test"]);
    await eventually(async () => (await list(hk.api)).data.some((s: any) => s.address === "gone2@ok.test"), "gone2 on the list");
    const rcptsBefore = sink.messages.flatMap((x) => x.envelope.to).filter((a) => a.toLowerCase() === "gone2@ok.test").length;
    const before = sink.messages.length;
    const m = await send(hk.api, ["GONE2@ok.test", "alice2@ok.test"]);
    assert.deepEqual(m.recipients, [
      { email: "GONE2@ok.test", state: "suppressed" },
      { email: "alice2@ok.test", state: "queued" },
    ]);
    const events = await finalEvents(hk.api, m.id, 2);
    const sup = events.find((e) => e.recipient === "GONE2@ok.test");
    assert.equal(sup.event, "suppressed");
    assert.equal(sup.code, 550);
    assert.equal(sup.enhanced_code, "5.7.1");
    assert.equal(sup.code_source, "hikyaku");
    assert.equal(sup.service_code, "suppressed");
    assert.equal(sup.attempt, 0);
    assert.equal(sup.mx_host, null);
    assert.equal(events.find((e) => e.recipient === "alice2@ok.test").event, "delivered");
    const got = (await sink.waitFor(before + 1)).slice(before).find((x) => x.raw.includes(m.message_id));
    assert.deepEqual(got?.envelope.to, ["alice2@ok.test"], "the destination saw only the other recipient");
    const rcptsAfter = sink.messages.flatMap((x) => x.envelope.to).filter((a) => a.toLowerCase() === "gone2@ok.test").length;
    assert.equal(rcptsAfter, rcptsBefore, "no attempt to the suppressed address");
    const msg = await hk.api("GET", `/v1/messages/${m.id}`);
    assert.equal(msg.body.recipients.find((r: any) => r.email === "GONE2@ok.test").state, "suppressed");
    const filtered = await hk.api("GET", `/v1/logs?event=suppressed&message_id=${m.id}`);
    assert.equal(filtered.status, 200);
    assert.deepEqual(
      filtered.body.data.map((e: any) => e.recipient),
      ["GONE2@ok.test"],
    );
  });

  test("a message whose every recipient is suppressed is complete at once, its bytes gone, nothing queued", async () => {
    const added = await hk.api("POST", "/v1/suppressions", { address: "only@ok.test" });
    assert.equal(added.status, 201);
    const m = await send(hk.api, ["only@ok.test"]);
    assert.deepEqual(m.recipients, [{ email: "only@ok.test", state: "suppressed" }]);
    const msg = await hk.api("GET", `/v1/messages/${m.id}`);
    assert.equal(msg.body.state, "completed");
    const [row] = await hk.service.db.sql`
      select (select count(*) from message_contents where message_id = ${m.id})::int as contents,
             (select count(*) from delivery_queue where message_id = ${m.id})::int as queued`;
    assert.deepEqual({ ...row }, { contents: 0, queued: 0 });
  });

  test("over the SMTP relay door too: the 250 for the message, no attempt for the suppressed recipient", async () => {
    await hk.api("POST", "/v1/suppressions", { address: "relay-gone@ok.test", reason: "complaint" });
    const before = sink.messages.length;
    const transport = nodemailer.createTransport({ host: "127.0.0.1", port: hk.service.smtp?.relayPort, tls: { rejectUnauthorized: false } });
    const raw = Buffer.from("From: shop@shop.test\r\nTo: relay-gone@ok.test, bob@ok.test\r\nSubject: hi\r\n\r\nhello\r\n");
    const info = await transport.sendMail({ envelope: { from: "shop@shop.test", to: ["relay-gone@ok.test", "bob@ok.test"] }, raw });
    const id = /queued as ([0-9a-f-]{36})/.exec(info.response)?.[1];
    assert.ok(id, info.response);
    const events = await finalEvents(hk.api, id, 2);
    assert.equal(events.find((e) => e.recipient === "relay-gone@ok.test").event, "suppressed");
    assert.equal(events.find((e) => e.recipient === "bob@ok.test").event, "delivered");
    const got = (await sink.waitFor(before + 1)).slice(before);
    assert.deepEqual(
      got.map((x) => x.envelope.to),
      [["bob@ok.test"]],
    );
    transport.close();
  });

  test("an account that has not opted in keeps sending after a hard bounce; nobody sees another account's list", async () => {
    const other = await hk.newAccount("not-opted-in");
    const api: Api = (method, path, body, headers) => hk.api(method, path, body, { authorization: `Bearer ${other.key}`, ...headers });
    const m = await send(api, ["gone3@ok.test"]);
    assert.equal((await finalEvents(api, m.id, 1))[0].event, "bounced");
    assert.deepEqual((await list(api)).data, []);
    // The first account's entries neither show nor apply here.
    const again = await send(api, ["gone2@ok.test"]);
    assert.deepEqual(again.recipients, [{ email: "gone2@ok.test", state: "queued" }]);
    assert.equal((await api("DELETE", "/v1/suppressions/gone2@ok.test")).status, 404);
  });

  test("POST adds once (lower case), GET pages with a cursor, DELETE removes and sends go out again", async () => {
    const first = await hk.api("POST", "/v1/suppressions", { address: "Page.A@OK.test", detail: "asked by phone" });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.address, "page.a@ok.test");
    assert.equal(first.body.reason, "manual");
    assert.equal(first.body.event_id, null);
    const again = await hk.api("POST", "/v1/suppressions", { address: "page.a@ok.test", reason: "complaint" });
    assert.equal(again.status, 200);
    assert.equal(again.body.reason, "manual", "an existing entry is left as it was");
    await hk.api("POST", "/v1/suppressions", { address: "page.b@ok.test" });

    const all = (await list(hk.api, "?limit=1000")).data.map((s: any) => s.address);
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const page: any = await list(hk.api, `?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      assert.ok(page.data.length <= 2);
      paged.push(...page.data.map((s: any) => s.address));
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(paged, all, "pages add up to the whole list, newest first, nothing repeated");
    assert.equal(all[0], "page.b@ok.test");

    const del = await hk.api("DELETE", `/v1/suppressions/${encodeURIComponent("PAGE.B@ok.test")}`);
    assert.deepEqual(del.body, { address: "page.b@ok.test", deleted: true });
    assert.equal((await hk.api("DELETE", "/v1/suppressions/page.b@ok.test")).status, 404);
    const m = await send(hk.api, ["page.b@ok.test"]);
    assert.deepEqual(m.recipients, [{ email: "page.b@ok.test", state: "queued" }]);
    assert.equal((await finalEvents(hk.api, m.id, 1))[0].event, "delivered");
  });

  test("bad input answers 4xx naming the field", async () => {
    const bad = await hk.api("POST", "/v1/suppressions", { address: "not an address" });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.field, "address");
    const reason = await hk.api("POST", "/v1/suppressions", { address: "x@ok.test", reason: "hard_bounce" });
    assert.equal(reason.status, 422);
    assert.equal(reason.body.error.field, "reason");
    const cursor = await hk.api("GET", "/v1/suppressions?cursor=bm9wZQ");
    assert.equal(cursor.status, 422);
    assert.equal(cursor.body.error.field, "cursor");
    const del = await hk.api("DELETE", "/v1/suppressions/nobody");
    assert.equal(del.status, 422);
    assert.equal(del.body.error.field, "address");
    const anon = await fetch(`${hk.url}/v1/suppressions`);
    assert.equal(anon.status, 401);
  });
});
