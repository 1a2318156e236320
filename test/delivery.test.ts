// End to end: POST /v1/messages → Postgres → graphile-worker → SMTP to a real sink found
// through a real DNS server → log events read back through GET /v1/logs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { advanceClock, resetClock } from "../src/clock.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

let dns: TestDns;
let sink: Sink;
let hk: TestService;

before(async () => {
  sink = await startSink({
    host: "127.0.0.2",
    onRcpt: (rcpt, { attempt }) => {
      if (rcpt.startsWith("unknown@")) return { code: 550, message: "5.1.1 user unknown" };
      if (rcpt.startsWith("soft@") && attempt === 1) return { code: 451, message: "4.7.1 greylisted, try again later" };
      return undefined;
    },
  });
  dns = await startDns({
    "ok.test": { MX: [{ exchange: "mx1.ok.test", priority: 10 }] },
    "mx1.ok.test": { A: ["127.0.0.2"] },
    "nullmx.test": { MX: [{ exchange: ".", priority: 0 }] },
    "refused.test": { MX: [{ exchange: "mx.refused.test", priority: 10 }] },
    "mx.refused.test": { A: ["127.0.0.3"] },
    "implicit.test": { A: ["127.0.0.2"] },
  });
  hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port) });
});

after(async () => {
  resetClock();
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

async function send(body: Record<string, unknown>, headers?: Record<string, string>) {
  const res = await hk.api("POST", "/v1/messages", { from: "Shop <orders@shop.test>", subject: "Order 1", text: "Thanks", ...body }, headers);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body as { id: string; message_id: string; recipients: { email: string; state: string }[] };
}

async function events(messageId: string, want: number) {
  return eventually(async () => {
    const r = await hk.api("GET", `/v1/logs?message_id=${messageId}`);
    return r.body.data.length >= want ? (r.body.data as any[]) : undefined;
  }, `${want} log events for ${messageId}`);
}

describe("delivery", () => {
  test("delivers to the MX with the exact envelope, Bcc only in the envelope", async () => {
    const before = sink.messages.length;
    const m = await send({ to: "alice@ok.test", bcc: "secret@ok.test", return_path: "bounces@shop.test", headers: { "X-Order": "1" } });
    const [ev1, ev2] = await events(m.id, 2);
    const received = sink.messages.slice(before).find((x) => x.raw.includes(m.message_id));
    assert.ok(received, "the sink received the message");
    assert.deepEqual(received.envelope, { from: "bounces@shop.test", to: ["alice@ok.test", "secret@ok.test"] });
    const text = received.raw.toString();
    const head = text.slice(0, text.indexOf("\r\n\r\n"));
    assert.match(head, /^From: Shop <orders@shop\.test>$/m);
    assert.match(head, /^To: alice@ok\.test$/m);
    assert.match(head, new RegExp(`^Message-ID: <${m.message_id}>$`, "m"));
    assert.match(head, /^Date: /m);
    assert.match(head, /^X-Order: 1$/m);
    assert.doesNotMatch(text, /secret@ok\.test/, "Bcc never appears in the delivered bytes");
    assert.equal(received.secure, true, "STARTTLS was used");
    for (const ev of [ev1, ev2]) {
      assert.equal(ev.event, "delivered");
      assert.equal(ev.code, 250);
      assert.equal(ev.code_source, "destination");
      assert.equal(ev.mx_host, "mx1.ok.test");
      assert.equal(ev.mx_ip, "127.0.0.2");
      assert.equal(ev.tls, true);
      assert.equal(ev.envelope_sender, "bounces@shop.test");
      assert.equal(ev.channel, "http");
      assert.equal(ev.attempt, 1);
    }
    const status = await hk.api("GET", `/v1/messages/${m.id}`);
    assert.equal(status.body.state, "completed");
    assert.deepEqual(
      status.body.recipients.map((r: any) => r.state),
      ["delivered", "delivered"],
    );
  });

  test("two recipients at one domain share one SMTP transaction", async () => {
    const before = sink.messages.length;
    const m = await send({ to: ["a@ok.test", "b@ok.test"], cc: "c@ok.test" });
    await events(m.id, 3);
    const got = sink.messages.slice(before).filter((x) => x.raw.includes(m.message_id));
    assert.equal(got.length, 1, "one transaction");
    assert.deepEqual(got[0]?.envelope.to, ["a@ok.test", "b@ok.test", "c@ok.test"]);
  });

  test("a 550 at RCPT bounces with the destination's words; the others are delivered", async () => {
    const m = await send({ to: ["unknown@ok.test", "known@ok.test"] });
    const evs = await events(m.id, 2);
    const bounced = evs.find((e) => e.recipient === "unknown@ok.test");
    const delivered = evs.find((e) => e.recipient === "known@ok.test");
    assert.equal(bounced.event, "bounced");
    assert.equal(bounced.code, 550);
    assert.equal(bounced.enhanced_code, "5.1.1");
    assert.match(bounced.response, /^550 5\.1\.1 user unknown/);
    assert.equal(bounced.code_source, "destination");
    assert.equal(delivered.event, "delivered");
  });

  test("a 451 is deferred, then delivered on the retry", async () => {
    const m = await send({ to: "soft@ok.test" });
    const evs = await events(m.id, 2);
    assert.deepEqual(
      evs.map((e) => e.event),
      ["delivered", "deferred"],
    );
    assert.equal(evs[1].code, 451);
    assert.match(evs[1].response, /greylisted/);
    assert.equal(evs[0].attempt, 2);
  });

  test("a domain with only an A record is its own MX", async () => {
    const m = await send({ to: "x@implicit.test" });
    const [ev] = await events(m.id, 1);
    assert.equal(ev.event, "delivered");
    assert.equal(ev.mx_host, "implicit.test");
  });

  test("a null MX bounces without a connection, with Hikyaku's own code", async () => {
    const m = await send({ to: "x@nullmx.test" });
    const [ev] = await events(m.id, 1);
    assert.equal(ev.event, "bounced");
    assert.equal(ev.code, 556);
    assert.equal(ev.enhanced_code, "5.1.10");
    assert.equal(ev.code_source, "hikyaku");
    assert.equal(ev.mx_host, null);
  });

  test("an unknown domain bounces (NXDOMAIN)", async () => {
    const m = await send({ to: "x@nowhere.test" });
    const [ev] = await events(m.id, 1);
    assert.equal(ev.event, "bounced");
    assert.equal(ev.code, 550);
    assert.match(ev.response, /hikyaku: no_such_domain/);
  });

  test("idempotent retry returns the first answer and stores nothing new", async () => {
    const body = { to: "idem@ok.test", subject: "Once" };
    const first = await send(body, { "Idempotency-Key": "order-42" });
    const second = await send(body, { "Idempotency-Key": "order-42" });
    assert.deepEqual(second, first);
    const conflict = await hk.api(
      "POST",
      "/v1/messages",
      { from: "orders@shop.test", to: "idem@ok.test", subject: "Other" },
      { "Idempotency-Key": "order-42" },
    );
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.error.code, "idempotency_conflict");
    const [row] = await hk.service.db.sql`select count(*)::int as n from recipients where address = 'idem@ok.test'`;
    assert.equal(row?.n, 1);
  });

  test("connection refused is deferred, then expires when the lifetime passes", async () => {
    const m = await send({ to: "x@refused.test", lifetime: 60 });
    const [deferred] = await events(m.id, 1);
    assert.equal(deferred.event, "deferred");
    assert.equal(deferred.code, 421);
    assert.equal(deferred.enhanced_code, "4.4.1");
    assert.equal(deferred.code_source, "hikyaku");
    advanceClock(61_000);
    const evs = await eventually(async () => {
      const all = await events(m.id, 1);
      return all[0].event === "expired" ? all : undefined;
    }, "the expired event");
    assert.equal(evs[0].code, 554);
    assert.equal(evs[0].enhanced_code, "5.4.7");
    assert.equal(evs.filter((e) => e.event === "expired").length, 1);
    const [row] = await hk.service.db.sql`select count(*)::int as n from message_contents where message_id = ${m.id}`;
    assert.equal(row?.n, 0, "the message bytes are deleted once every recipient is final");
  });
});
