// The relay door end to end: nodemailer submits over real sockets from an allowlisted
// source IP → accept() → Postgres → delivery to a real sink found through real DNS.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import nodemailer from "nodemailer";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";
import { refusal } from "./helpers/smtp-client.ts";

let dns: TestDns;
let sink: Sink;
let hk: TestService;

before(async () => {
  sink = await startSink({ host: "127.0.0.2" });
  dns = await startDns({
    "ok.test": { MX: [{ exchange: "mx1.ok.test", priority: 10 }] },
    "mx1.ok.test": { A: ["127.0.0.2"] },
  });
  hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port) });
  const put = await hk.api("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] });
  assert.equal(put.status, 200, JSON.stringify(put.body));
});

after(async () => {
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

function relay(localAddress = "127.0.0.1") {
  return nodemailer.createTransport({
    host: "127.0.0.1",
    port: hk.service.smtp?.relayPort,
    localAddress,
    tls: { rejectUnauthorized: false },
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 10_000,
  });
}

const crlf = (lines: string[]) => Buffer.from(`${lines.join("\r\n")}\r\n`, "utf8");

async function receptionEvents(filter: (e: any) => boolean, n = 1): Promise<any[]> {
  return eventually(async () => {
    const r = await hk.api("GET", "/v1/logs?type=reception&limit=100");
    const found = (r.body.data ?? []).filter(filter);
    return found.length >= n ? found : undefined;
  }, "reception events");
}

describe("relay port", () => {
  test("delivers the submitted bytes, minus the X-Hikyaku-* headers, with a Received trace", async () => {
    const raw = crlf([
      "From: City Alerts <alerts@city.test>",
      "To: resident@ok.test",
      "Subject: =?UTF-8?B?6YG/6Zuj5oyH56S6?=",
      "Message-ID: <relay-1@city.test>",
      "Date: Thu, 27 Nov 2026 09:00:00 +0900",
      "X-Hikyaku-Priority: high",
      "X-Hikyaku-Tags: evacuation, typhoon",
      "X-Custom: kept as is ",
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      "避難してください。",
      ".leading dot survives dot-stuffing",
      "",
    ]);
    const before = sink.messages.length;
    const info = await relay().sendMail({ envelope: { from: "bounces@city.test", to: ["resident@ok.test"] }, raw });
    const id = /^250 2\.0\.0 .*queued as ([0-9a-f-]{36})/.exec(info.response)?.[1];
    assert.ok(id, `the 250 carries the message id: ${info.response}`);

    const [got] = (await sink.waitFor(before + 1)).slice(before);
    assert.ok(got);
    assert.deepEqual(got.envelope, { from: "bounces@city.test", to: ["resident@ok.test"] });
    const text = got.raw.toString("latin1");
    const trace = /^Received: from [^\r\n]+\(\[127\.0\.0\.1\]\)\r\n\tby hikyaku\.test \(Hikyaku\) with ESMTPS;\r\n\t[^\r\n]+\r\n/.exec(text);
    assert.ok(trace, `a Received trace field comes first:\n${text.slice(0, 300)}`);
    const rest = text.slice(trace[0].length).replace(/^DKIM-Signature:.*\r\n(?:[ \t].*\r\n)*/gm, "");
    const expected = raw.toString("latin1").replace(/^X-Hikyaku-[^\r\n]*\r\n/gm, "");
    assert.equal(rest, expected);

    const msg = await hk.api("GET", `/v1/messages/${id}`);
    assert.equal(msg.status, 200);
    assert.equal(msg.body.channel, "smtp");
    assert.equal(msg.body.priority, "high");
    assert.deepEqual(msg.body.tags, ["evacuation", "typhoon"]);
  });

  test("one transaction with N recipients is one message; Bcc recipients get it without a trace in the headers", async () => {
    const raw = crlf(["From: shop@city.test", "To: a@ok.test", "Bcc: hidden@ok.test", "Subject: order", "", "thanks"]);
    const before = sink.messages.length;
    const info = await relay().sendMail({ envelope: { from: "shop@city.test", to: ["a@ok.test", "b@ok.test", "hidden@ok.test"] }, raw });
    const id = /queued as ([0-9a-f-]{36})/.exec(info.response)?.[1];
    const msg = await hk.api("GET", `/v1/messages/${id}`);
    assert.deepEqual(
      msg.body.recipients.map((r: any) => r.email),
      ["a@ok.test", "b@ok.test", "hidden@ok.test"],
    );
    const [got] = (await sink.waitFor(before + 1)).slice(before);
    assert.deepEqual(got?.envelope.to, ["a@ok.test", "b@ok.test", "hidden@ok.test"]);
    assert.doesNotMatch(got?.raw.toString() ?? "", /hidden@ok\.test|^Bcc:/im);
  });

  test("a client that is not a registered source IP gets 554 5.7.1, logged as refused", async () => {
    const err = await refusal(
      relay("127.0.0.2").sendMail({ envelope: { from: "x@city.test", to: ["a@ok.test"] }, raw: crlf(["From: x@city.test", "", "hi"]) }),
    );
    assert.equal(err.responseCode, 554);
    assert.match(err.response, /^554 5\.7\.1 Relay access denied: 127\.0\.0\.2 /);
    // Unknown IPs belong to no account, so only the operator (the table) sees these.
    const row = await eventually(async () => {
      const [r] = await hk.service.db.sql`
        select account_id, accepted, code, enhanced_code, envelope_sender, channel from reception_events
        where source_ip = '127.0.0.2' order by id desc limit 1`;
      return r;
    }, "the refusal in the reception log");
    assert.deepEqual({ ...row }, { account_id: null, accepted: false, code: 554, enhanced_code: "5.7.1", envelope_sender: "x@city.test", channel: "smtp" });
  });

  test("an invalid extended header refuses the message with a 5xx that names the header", async () => {
    const raw = crlf(["From: a@city.test", "To: a@ok.test", "X-Hikyaku-Priority: urgent", "", "hi"]);
    const err = await refusal(relay().sendMail({ envelope: { from: "a@city.test", to: ["a@ok.test"] }, raw }));
    assert.ok(err.responseCode >= 500 && err.responseCode < 600, err.response);
    assert.match(err.response, /X-Hikyaku-Priority/);
    const [ev] = await receptionEvents((e) => !e.accepted && /X-Hikyaku-Priority/.test(e.reason));
    assert.equal(ev.code, err.responseCode);
    assert.equal(ev.recipient_count, 1);
    assert.equal(ev.envelope_sender, "a@city.test");
  });

  test("accepted and refused attempts are in the account's reception log", async () => {
    const events = await receptionEvents((e) => e.channel === "smtp" && e.source_ip === "127.0.0.1", 3);
    const accepted = events.filter((e) => e.accepted);
    assert.ok(accepted.length >= 2);
    for (const e of accepted) {
      assert.equal(e.code, 250);
      assert.match(e.message_id, /^[0-9a-f-]{36}$/);
    }
  });

  test("an empty, free-mail or malformed envelope sender is refused at MAIL FROM", async () => {
    const empty = await refusal(relay().sendMail({ envelope: { from: "", to: ["a@ok.test"] }, raw: crlf(["From: a@city.test", "", "hi"]) }));
    assert.equal(empty.responseCode, 553);
    assert.match(empty.response, /^553 5\.7\.1 An empty envelope sender is only for/);
    const free = await refusal(relay().sendMail({ envelope: { from: "city@gmail.com", to: ["a@ok.test"] }, raw: crlf(["From: city@gmail.com", "", "hi"]) }));
    assert.equal(free.responseCode, 553);
    assert.match(free.response, /^553 5\.7\.1 The envelope sender city@gmail\.com is at gmail\.com, a free-mail provider/);
    const bad = await refusal(relay().sendMail({ envelope: { from: "a@[127.0.0.1]", to: ["a@ok.test"] }, raw: crlf(["From: a@city.test", "", "hi"]) }));
    assert.equal(bad.responseCode, 553);
    assert.match(bad.response, /^553 5\.1\.3 MAIL FROM: "a@\[127\.0\.0\.1\]" is not a valid email address/);
  });
});

describe("source IPs API", () => {
  test("normalises, caps at five, and refuses an IP another account holds", async () => {
    const other = await hk.newAccount("other");
    const otherApi = (m: string, p: string, b?: unknown) =>
      fetch(hk.url + p, {
        method: m,
        headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" },
        body: b === undefined ? undefined : JSON.stringify(b),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const ok = await otherApi("PUT", "/v1/source-ips", { ips: ["::ffff:192.0.2.7", "2001:DB8:0:0::1", "192.0.2.7"] });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.ips, ["192.0.2.7", "2001:db8::1"]);
    assert.deepEqual((await otherApi("GET", "/v1/source-ips")).body, { ips: ["192.0.2.7", "2001:db8::1"] });

    const taken = await otherApi("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] });
    assert.equal(taken.status, 409);
    assert.equal(taken.body.error.code, "conflict");
    assert.deepEqual((await otherApi("GET", "/v1/source-ips")).body.ips, ["192.0.2.7", "2001:db8::1"], "a refused PUT changes nothing");

    const six = await otherApi("PUT", "/v1/source-ips", { ips: ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6"] });
    assert.equal(six.status, 422);
    assert.equal(six.body.error.field, "ips");
    const bad = await otherApi("PUT", "/v1/source-ips", { ips: ["192.0.2.300"] });
    assert.equal(bad.status, 422);
    assert.equal(bad.body.error.field, "ips[0]");
    assert.deepEqual((await otherApi("PUT", "/v1/source-ips", { ips: [] })).body.ips, []);
  });
});

describe("HTTP door reception log", () => {
  test("a refused POST /v1/messages is logged with its sender, recipient count and reason", async () => {
    const res = await hk.api("POST", "/v1/messages", { from: "shop@city.test", to: ["a@ok.test", "not an address"], subject: "x", text: "y" });
    assert.equal(res.status, 422);
    const [ev] = await receptionEvents((e) => e.channel === "http" && !e.accepted);
    assert.equal(ev.code, 422);
    assert.equal(ev.envelope_sender, "shop@city.test");
    assert.equal(ev.recipient_count, 2);
    assert.equal(ev.reason, res.body.error.message);
  });
});
