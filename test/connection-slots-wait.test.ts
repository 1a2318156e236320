// Transactions that find a budget's slots held by another process wait for this process's
// own connections instead of each asking the database again and again: against the real
// slot table (another holder keeps 14 of 16 slots) and a real SMTP server on loopback.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConnectionPool, type SlotLeaser } from "../src/delivery/connection-pool.ts";
import { ConnectionSlots } from "../src/delivery/connection-slots.ts";
import { attemptDomain } from "../src/delivery/smtp-attempt.ts";
import { startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

let hk: TestService;
let sink: Sink;

before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
  sink = await startSink({ starttls: false });
});

after(async () => {
  await sink?.close();
  await hk?.stop();
});

/** The real slots, counting how often they are asked. */
class CountedSlots implements SlotLeaser {
  asked = 0;
  constructor(private readonly inner: ConnectionSlots) {}
  acquire(key: string, max: number) {
    this.asked++;
    return this.inner.acquire(key, max);
  }
  release(key: string, slot: number) {
    this.inner.release(key, slot);
  }
}

test("40 transactions, 14 of 16 slots held elsewhere: 2 connections, all delivered, and fewer slot queries than transactions", async () => {
  const db = hk.service.db;
  const key = "slots-wait.test";
  await db.sql`
    insert into destination_connections (key, slot, holder, expires_at)
    select ${key}, s, 'another-process', now() + interval '1 hour' from generate_series(1, 14) s`;
  const slots = new CountedSlots(new ConnectionSlots(db, 60_000));
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
