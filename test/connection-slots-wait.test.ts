// Transactions that find a budget's slots held by another process wait for this process's
// own connections instead of each asking the database again and again: against the real
// slot table (another holder keeps 14 of 16 slots) and a real SMTP server on loopback.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConnectionPool } from "../src/delivery/connection-pool.ts";
import { attemptDomain } from "../src/delivery/smtp-attempt.ts";
import { CountedSlots } from "./helpers/counted-slots.ts";
import { startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

let hk: TestService;
let sink: Sink;
/** Destinations that take 300 ms and 3 s to answer DATA: a transaction that holds its connection a while. */
let slowSink: Sink;
let slowerSink: Sink;

before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
  sink = await startSink({ starttls: false });
  slowSink = await startSink({ starttls: false, dataDelayMs: 300 });
  slowerSink = await startSink({ starttls: false, dataDelayMs: 3000 });
});

after(async () => {
  await Promise.all([sink?.close(), slowSink?.close(), slowerSink?.close()]);
  await hk?.stop();
});

test("40 transactions, 14 of 16 slots held elsewhere: 2 connections, all delivered, and fewer slot queries than transactions", async () => {
  const db = hk.service.db;
  const key = "slots-wait.test";
  await db.sql`
    insert into destination_connections (key, slot, holder, expires_at)
    select ${key}, s, 'another-process', now() + interval '1 hour' from generate_series(1, 14) s`;
  const slots = new CountedSlots(db, 60_000);
  const pool = new ConnectionPool({ heloName: "hikyaku.test", timeoutMs: 10_000, slots });
  const budget = { key, maxConnections: 16, messagesPerConnection: Number.POSITIVE_INFINITY, idleMs: 10_000 };
  const before = sink.connections;
  try {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, n) =>
        attemptDomain(pool, {
          envelopeFrom: "a@shop.test",
          recipients: [`r${n}@dest.test`],
          raw: Buffer.from(`From: a@shop.test\r\nTo: r${n}@dest.test\r\nMessage-ID: <slots-${n}@shop.test>\r\nSubject: ${n}\r\n\r\nhello\r\n`),
          targets: [{ host: "mx.dest.test", ip: sink.host, port: sink.port }],
          tls: "opportunistic",
          maxRecipientsPerTransaction: 100,
          budget,
        }),
      ),
    );
    for (const [n, r] of results.entries()) assert.equal(r.get(`r${n}@dest.test`)?.kind, "delivered", `message ${n}`);
    assert.equal(sink.connections - before, 2, "the two free slots, each connection reused");
    // Before, each refusal woke the next waiting transaction to ask again (three statements
    // each time); now a refusal is believed for a while and the rest wait for our 2.
    assert.ok(slots.asked < 40, `slot queries: ${slots.asked}`);
  } finally {
    pool.close();
    await db.sql`delete from destination_connections where key = ${key}`;
  }
});

/**
 * One transaction of ours holds the third of 3 slots (the other two are another
 * process's); a second finds them all held, and its next look (the group's one probe)
 * hangs for 3 s. Meanwhile a slot comes free: `free` frees it, and `late` is a
 * transaction started after that, which must get it rather than wait for the hung probe
 * (and park as destination_busy after its 2.5 s).
 */
async function duringAHungProbe(key: string, holder: Sink, messagesPerConnection: number, free: (db: TestService["service"]["db"]) => Promise<void>) {
  const db = hk.service.db;
  await db.sql`
    insert into destination_connections (key, slot, holder, expires_at)
    select ${key}, s, 'another-process', now() + interval '1 hour' from generate_series(1, 2) s`;
  const slots = new CountedSlots(db, 60_000);
  const pool = new ConnectionPool({ heloName: "hikyaku.test", timeoutMs: 10_000, slots });
  const budget = { key, maxConnections: 3, messagesPerConnection, idleMs: 10_000 };
  const send = (n: string, to: Sink) =>
    attemptDomain(pool, {
      envelopeFrom: "a@shop.test",
      recipients: [`${n}@dest.test`],
      raw: Buffer.from(`From: a@shop.test\r\nTo: ${n}@dest.test\r\nMessage-ID: <${key}-${n}@shop.test>\r\nSubject: ${n}\r\n\r\nhello\r\n`),
      targets: [{ host: "mx.dest.test", ip: to.host, port: to.port }],
      tls: "opportunistic",
      maxRecipientsPerTransaction: 100,
      budget,
    }).then((m) => m.get(`${n}@dest.test`));
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    const first = send("first", holder);
    await pause(100); // it holds our one slot now, busy at the destination
    const second = send("second", sink); // finds every slot held, and believes so for 100 ms
    await pause(20);
    slots.slowNext(3000); // so its next look, the probe, hangs
    await pause(150);
    await free(db);
    const late = send("late", sink);
    const outcomes = await Promise.all([first, second, late]);
    return outcomes.map((o) => `${o?.kind}${o?.service ? ` ${o.service}` : ""}`);
  } finally {
    pool.close();
    await db.sql`delete from destination_connections where key = ${key}`;
  }
}

test("a slot of ours freed while the group's probe hangs goes to the next transaction at once", async () => {
  // The first transaction's connection is quit after it (one message per connection), which frees its slot.
  const outcomes = await duringAHungProbe("slots-probe-own.test", slowSink, 1, async () => {
    await new Promise((r) => setTimeout(r, 300));
  });
  assert.deepEqual(outcomes, ["delivered", "delivered", "delivered"]);
});

test("slots another process frees while the group's probe hangs are taken without waiting for it", async () => {
  const outcomes = await duringAHungProbe("slots-probe-other.test", slowerSink, Number.POSITIVE_INFINITY, async (db) => {
    await db.sql`delete from destination_connections where key = ${"slots-probe-other.test"} and holder = 'another-process'`;
  });
  assert.deepEqual(outcomes, ["delivered", "delivered", "delivered"]);
});
