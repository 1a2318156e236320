// The outbound connection pool against a real SMTP server on loopback: many transactions
// at once to one destination share at most maxPerDestination connections, reused in turn,
// instead of each opening and quitting its own.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConnectionPool } from "../src/delivery/connection-pool.ts";
import { attemptDomain } from "../src/delivery/smtp-attempt.ts";
import { deferred } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

let sink: Sink;
const held = deferred();
let holding = false;
let heldSink: Sink;

before(async () => {
  sink = await startSink({ starttls: true, dataDelayMs: 15 });
  heldSink = await startSink({ starttls: false, holdData: held.promise.then(() => (holding = false)) });
});

after(async () => {
  held.resolve();
  await sink?.close();
  await heldSink?.close();
});

const message = (n: number) => Buffer.from(`From: a@shop.test\r\nTo: r${n}@dest.test\r\nMessage-ID: <pool-${n}@shop.test>\r\nSubject: ${n}\r\n\r\nhello\r\n`);

function attempt(pool: ConnectionPool, s: Sink, n: number) {
  return attemptDomain(pool, {
    envelopeFrom: "a@shop.test",
    recipients: [`r${n}@dest.test`],
    raw: message(n),
    targets: [{ host: "mx.dest.test", ip: s.host, port: s.port }],
    tls: "opportunistic",
    maxRecipientsPerTransaction: 100,
  });
}

test("40 transactions at once to one destination go over at most 3 connections, all delivered", async () => {
  const pool = new ConnectionPool({ heloName: "hikyaku.test", timeoutMs: 10_000, maxPerDestination: 3 });
  try {
    const before = sink.connections;
    const results = await Promise.all(Array.from({ length: 40 }, (_, n) => attempt(pool, sink, n)));
    for (const [n, r] of results.entries()) assert.equal(r.get(`r${n}@dest.test`)?.kind, "delivered", `message ${n}`);
    assert.equal(sink.messages.length, 40);
    assert.equal(sink.connections - before, 3, "three connections, each reused");
    assert.ok(
      sink.messages.every((m) => m.secure),
      "STARTTLS on every reused connection",
    );
  } finally {
    pool.close();
  }
});

test("closing the pool frees the transactions waiting for a connection", async () => {
  const pool = new ConnectionPool({ heloName: "hikyaku.test", timeoutMs: 30_000, maxPerDestination: 1 });
  holding = true;
  const first = attempt(pool, heldSink, 1); // takes the only connection and waits in DATA
  const second = attempt(pool, heldSink, 2); // waits for that connection
  await new Promise((r) => setTimeout(r, 200));
  pool.close();
  const waited = await second;
  assert.equal(waited.get("r2@dest.test")?.kind, "deferred", "the waiter is deferred, not left hanging");
  held.resolve();
  assert.equal((await first).get("r1@dest.test")?.kind, "delivered");
  assert.equal(holding, false);
});
