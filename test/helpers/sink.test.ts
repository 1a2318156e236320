// Proves the loopback DNS and SMTP sink helpers behave like the real servers they stand in for.
import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import { after, describe, test } from "node:test";
import nodemailer from "nodemailer";
import { startDns, type TestDns } from "./dns-server.ts";
import { freePort, startSink } from "./sink.ts";

function transport(port: number, host = "127.0.0.1") {
  // The sink's certificate is self-signed; the real MTA also delivers opportunistically without verifying.
  return nodemailer.createTransport({
    host,
    port,
    secure: false,
    tls: { rejectUnauthorized: false },
  });
}

const mail = {
  from: "app@hikyaku.test",
  subject: "hi",
  text: "line one\r\n.leading dot\r\n",
};

describe("sink", () => {
  test("accepts a message over STARTTLS and keeps the raw bytes", async (t) => {
    const sink = await startSink();
    t.after(() => sink.close());
    const info = await transport(sink.port).sendMail({
      ...mail,
      to: "bob@dest.test",
      messageId: "<m1@hikyaku.test>",
    });
    assert.deepEqual(info.accepted, ["bob@dest.test"]);
    const [msg] = await sink.waitFor(1);
    assert.ok(msg);
    assert.equal(msg.secure, true);
    assert.deepEqual(msg.envelope, {
      from: "app@hikyaku.test",
      to: ["bob@dest.test"],
    });
    assert.equal(msg.remoteAddress, "127.0.0.1");
    assert.match(msg.raw.toString(), /Message-ID: <m1@hikyaku\.test>/);
    assert.match(msg.raw.toString(), /\r\n\.leading dot\r\n/); // dot-stuffing undone
    assert.equal(sink.connections, 1);
  });

  test("without STARTTLS the session stays plaintext, on another loopback address", async (t) => {
    const sink = await startSink({ starttls: false, host: "127.0.0.2" });
    t.after(() => sink.close());
    await transport(sink.port, "127.0.0.2").sendMail({
      ...mail,
      to: "bob@dest.test",
    });
    const [msg] = await sink.waitFor(1);
    assert.equal(msg?.secure, false);
    assert.equal(sink.host, "127.0.0.2");
  });

  test("a 550 RCPT rule shows up in nodemailer.rejected; attempts are counted", async (t) => {
    const attempts: number[] = [];
    const sink = await startSink({
      onRcpt: (rcpt, { attempt }) => {
        if (rcpt !== "gone@dest.test") return undefined;
        attempts.push(attempt);
        return { code: 550, message: "5.1.1 No such user" };
      },
    });
    t.after(() => sink.close());
    const tr = transport(sink.port);
    for (let i = 0; i < 2; i++) {
      const info = await tr.sendMail({
        ...mail,
        to: ["ok@dest.test", "gone@dest.test"],
      });
      assert.deepEqual(info.rejected, ["gone@dest.test"]);
      assert.deepEqual(info.accepted, ["ok@dest.test"]);
      assert.match(String(info.rejectedErrors?.[0]?.message), /550 5\.1\.1 No such user/);
    }
    assert.deepEqual(attempts, [1, 2]);
    const msgs = await sink.waitFor(2);
    assert.deepEqual(msgs[0]?.envelope.to, ["ok@dest.test"]);
  });

  test("a DATA rule can defer the first attempt only", async (t) => {
    const sink = await startSink({
      onData: ({ attempt }) => (attempt === 1 ? { code: 451, message: "4.3.0 try later" } : undefined),
    });
    t.after(() => sink.close());
    const tr = transport(sink.port);
    const m = {
      ...mail,
      to: "bob@dest.test",
      messageId: "<retry@hikyaku.test>",
    };
    await assert.rejects(tr.sendMail(m), (err: { responseCode?: number }) => err.responseCode === 451);
    await tr.sendMail(m);
    assert.equal((await sink.waitFor(1)).length, 1);
  });

  test("waitFor rejects with a clear error on timeout; freePort gives a usable port", async (t) => {
    const port = await freePort();
    const sink = await startSink({ port, greetingDelayMs: 50 });
    t.after(() => sink.close());
    assert.equal(sink.port, port);
    await assert.rejects(sink.waitFor(1, 100), /expected 1 message\(s\) within 100 ms, got 0/);
  });
});

describe("dns-server", () => {
  let dns: TestDns;
  const resolver = new Resolver();
  after(() => dns?.close());

  test("answers MX, A, AAAA, TXT, NXDOMAIN, NODATA and null MX", async () => {
    dns = await startDns({
      "dest.test": {
        MX: [
          { exchange: "mx2.dest.test", priority: 20 },
          { exchange: "mx1.dest.test", priority: 10 },
        ],
        TXT: [["v=spf1 -all"], ["a".repeat(255), "b"]],
      },
      "mx1.dest.test": { A: ["127.0.0.2"], AAAA: ["::1"] },
      "nullmx.test": { MX: [{ exchange: ".", priority: 0 }] },
    });
    resolver.setServers([dns.address]);
    const mx = await resolver.resolveMx("dest.test");
    assert.deepEqual(
      mx.sort((a, b) => a.priority - b.priority).map((r) => r.exchange),
      ["mx1.dest.test", "mx2.dest.test"],
    );
    assert.deepEqual(await resolver.resolve4("mx1.dest.test"), ["127.0.0.2"]);
    assert.deepEqual(await resolver.resolve6("mx1.dest.test"), ["::1"]);
    assert.deepEqual(await resolver.resolveTxt("dest.test"), [["v=spf1 -all"], ["a".repeat(255), "b"]]);
    assert.deepEqual(await resolver.resolveMx("nullmx.test"), [{ exchange: "", priority: 0 }]);
    await assert.rejects(resolver.resolveMx("nowhere.test"), {
      code: "ENOTFOUND",
    });
    await assert.rejects(resolver.resolveMx("mx1.dest.test"), {
      code: "ENODATA",
    });
    assert.deepEqual(dns.queries.at(-1), { name: "mx1.dest.test", type: "MX" });
  });

  test("records are live, and large answers fall back to TCP", async () => {
    dns.records["late.test"] = {
      A: ["10.0.0.1"],
      TXT: Array.from({ length: 8 }, (_, i) => [`${i}`.repeat(200)]),
    };
    assert.deepEqual(await resolver.resolve4("late.test"), ["10.0.0.1"]);
    assert.equal((await resolver.resolveTxt("late.test")).length, 8);
  });
});
