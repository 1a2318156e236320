// Outbound TLS policy (F11), end to end through real sinks on loopback: `required` never
// sends in plain text (no STARTTLS, or a failed handshake, is a tls_required deferral),
// `opportunistic` falls back to plain text only when the handshake fails and says so in
// the log, and a pooled connection never serves a stricter policy than it was opened for.
import assert from "node:assert/strict";
import type net from "node:net";
import { after, before, describe, test } from "node:test";
import { ConnectionPool } from "../src/delivery/connection-pool.ts";
import { setOverride } from "../src/delivery/policy-store.ts";
import { attemptDomain } from "../src/delivery/smtp-attempt.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { startScriptedSmtp } from "./helpers/scripted-smtp.ts";
import { arrivedAt, firstLogEvent, sendPlain, startTestService, type TestService } from "./helpers/service.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

let dns: TestDns;
let hk: TestService;
/** No STARTTLS at all. */
let plain: Sink;
/** STARTTLS with the shared self-signed certificate. */
let starttls: Sink;
/** Offers STARTTLS, but only TLS 1.1, which Hikyaku (TLS 1.2 at least) cannot complete. */
let broken: Sink;
/** Offers STARTTLS in its EHLO, then answers the command with 454 (a raw server: smtp-server never offers what it refuses). */
let refusing: net.Server;
const refusingGot: string[] = [];

before(async () => {
  const port = await freePort("127.0.0.2");
  plain = await startSink({ host: "127.0.0.2", port, starttls: false });
  starttls = await startSink({ host: "127.0.0.3", port });
  broken = await startSink({ host: "127.0.0.4", port, tls: { minVersion: "TLSv1", maxVersion: "TLSv1.1" } });
  refusing = await startRefusingStartTls("127.0.0.5", port);
  const records: Record<string, object> = {};
  for (const [domain, ip] of [
    ["plain-required.test", "127.0.0.2"],
    ["tls-required.test", "127.0.0.3"],
    ["broken-required.test", "127.0.0.4"],
    ["broken-opportunistic.test", "127.0.0.4"],
    ["tls-opportunistic.test", "127.0.0.3"],
    ["refused-opportunistic.test", "127.0.0.5"],
  ] as const) {
    records[domain] = { MX: [{ exchange: `mx.${domain}`, priority: 10 }] };
    records[`mx.${domain}`] = { A: [ip] };
  }
  dns = await startDns(records as never);
  hk = await startTestService(
    { HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(port) },
    {
      seed: async (db) => {
        for (const d of ["plain-required.test", "tls-required.test", "broken-required.test"]) await setOverride(db, d, { tls: "required" });
      },
    },
  );
});

after(async () => {
  await hk?.stop();
  for (const s of [plain, starttls, broken]) await s?.close();
  await new Promise((r) => refusing?.close(r));
  await dns?.close();
});

const send = (to: string) => sendPlain(hk, to, "TLS");
const firstEvent = (messageId: string) => firstLogEvent(hk, messageId);
const arrived = arrivedAt;

describe("tls: required", () => {
  test("a destination without STARTTLS gets nothing: the recipient is deferred with tls_required", async () => {
    const connectionsBefore = plain.connections;
    const m = await send("a@plain-required.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "deferred");
    assert.equal(ev.service_code, "tls_required", ev.response);
    assert.equal(ev.code, 421);
    assert.equal(ev.enhanced_code, "4.7.4");
    assert.match(ev.response, /mx\.plain-required\.test/);
    assert.equal(ev.tls, null, "no session was used");
    assert.ok(plain.connections > connectionsBefore, "the destination was tried");
    assert.equal(arrived(plain, m.message_id).length, 0, "nothing arrived in plain text");
    const status = await hk.api("GET", `/v1/messages/${m.id}`);
    assert.equal(status.body.recipients[0].state, "deferred");
  });

  test("a destination with STARTTLS receives the message over TLS, certificate unchecked (Postfix's encrypt level)", async () => {
    const m = await send("b@tls-required.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "delivered", ev.response);
    assert.equal(ev.tls, true);
    assert.equal(ev.tls_fallback, false);
    assert.equal(ev.tls_detail, null);
    const [got] = arrived(starttls, m.message_id);
    assert.equal(got?.secure, true, "the sink received it over TLS");
  });

  test("a failed TLS handshake is a tls_required deferral, never a plain-text retry", async () => {
    const m = await send("c@broken-required.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "deferred");
    assert.equal(ev.service_code, "tls_required", ev.response);
    assert.equal(arrived(broken, m.message_id).length, 0);
  });
});

/** Just enough SMTP for one message: EHLO offers STARTTLS, STARTTLS gets 454, the rest is accepted in plain text. */
function startRefusingStartTls(host: string, port: number): Promise<net.Server> {
  return startScriptedSmtp(host, port, "220 refusing.test ESMTP", () => ({
    command(line) {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === "EHLO") return "250-refusing.test\r\n250-PIPELINING\r\n250 STARTTLS";
      if (line.toUpperCase() === "STARTTLS") return "454 4.7.0 TLS not available due to temporary reason";
      if (verb === "DATA") return "354 go ahead";
      if (verb === "QUIT") return "221 2.0.0 bye";
      if (verb === "RSET" || verb === "MAIL" || verb === "RCPT" || verb === "NOOP") return "250 2.0.0 ok";
      return "502 5.5.2 not implemented";
    },
    message(data) {
      refusingGot.push(data);
      return "250 2.0.0 queued";
    },
  }));
}

describe("opportunistic TLS", () => {
  test("STARTTLS offered, then refused with 454: delivered in plain text, and the log event says it fell back", async () => {
    const m = await send("e@refused-opportunistic.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "delivered", ev.response);
    assert.equal(ev.tls, false);
    assert.equal(ev.tls_fallback, true);
    assert.match(ev.tls_detail, /offered STARTTLS, then refused it; sent in plain text$/);
    assert.ok(
      refusingGot.some((d) => d.includes(m.message_id)),
      "the refusing server received the message in plain text",
    );
  });

  test("a failed handshake falls back to plain text, and the log event says so", async () => {
    const m = await send("d@broken-opportunistic.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "delivered", ev.response);
    assert.equal(ev.tls, false);
    assert.equal(ev.tls_fallback, true);
    assert.match(ev.tls_detail, /^STARTTLS handshake failed \(.+\); sent in plain text$/);
    const [got] = arrived(broken, m.message_id);
    assert.equal(got?.secure, false, "the sink received it in plain text");
    const csv = await fetch(`${hk.url}/v1/logs.csv?message_id=${m.id}`, { headers: { authorization: `Bearer ${hk.key}` } });
    const [header, row] = (await csv.text()).split("\r\n");
    const cols = header?.split(",") ?? [];
    assert.ok(cols.includes("tls_fallback") && cols.includes("tls_detail"), header);
    assert.equal(row?.split(",")[cols.indexOf("tls_fallback")], "true");
  });

  test("a destination that offers STARTTLS gets TLS, with no fallback logged", async () => {
    const m = await send("e@tls-opportunistic.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "delivered", ev.response);
    assert.equal(ev.tls, true);
    assert.equal(ev.tls_fallback, false);
    assert.equal(arrived(starttls, m.message_id)[0]?.secure, true);
  });
});

describe("the connection pool", () => {
  const message = (n: number) => Buffer.from(`From: a@shop.test\r\nTo: r@dest.test\r\nMessage-ID: <cross-${n}@shop.test>\r\nSubject: ${n}\r\n\r\nhello\r\n`);
  const attempt = (pool: ConnectionPool, sink: Sink, tls: "opportunistic" | "required", n: number) =>
    attemptDomain(pool, {
      envelopeFrom: "a@shop.test",
      recipients: ["r@dest.test"],
      raw: message(n),
      targets: [{ host: "mx.dest.test", ip: sink.host, port: sink.port }],
      tls,
      maxRecipientsPerTransaction: 100,
    });

  test("a plain-text connection kept open for opportunistic mail is never reused for required mail", async () => {
    const pool = new ConnectionPool({ heloName: "hikyaku.test", timeoutMs: 5000 });
    try {
      assert.equal((await attempt(pool, plain, "opportunistic", 1)).get("r@dest.test")?.kind, "delivered");
      const required = (await attempt(pool, plain, "required", 2)).get("r@dest.test");
      assert.equal(required?.kind, "deferred");
      assert.equal(required?.service, "tls_required");
      assert.equal(plain.messages.filter((m) => m.raw.includes("cross-2@")).length, 0);
    } finally {
      pool.close();
    }
  });

  test("a fallen-back plain-text connection is never reused for required mail either", async () => {
    const pool = new ConnectionPool({ heloName: "hikyaku.test", timeoutMs: 5000 });
    try {
      const first = (await attempt(pool, broken, "opportunistic", 3)).get("r@dest.test");
      assert.equal(first?.kind, "delivered");
      assert.equal(first?.tlsFallback, true);
      assert.equal((await attempt(pool, broken, "required", 4)).get("r@dest.test")?.service, "tls_required");
      assert.equal(broken.messages.filter((m) => m.raw.includes("cross-4@")).length, 0);
    } finally {
      pool.close();
    }
  });
});
