// Two worker processes share one destination's connection slots: the first has leased
// every slot for a stream of its own, and the second, starting late, gets some back
// within its wait and parks nothing. Two pools with two slot holders stand for the two
// processes, against the real slot table and a real SMTP server on loopback; each second
// each renews its leases and gives connections back where the other asked, as the
// shaper's tick does (src/delivery/shaper.ts).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConnectionPool } from "../src/delivery/connection-pool.ts";
import { ConnectionSlots } from "../src/delivery/connection-slots.ts";
import type { Outcome } from "../src/delivery/outcome.ts";
import { attemptDomain } from "../src/delivery/smtp-attempt.ts";
import { startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

let hk: TestService;
let sink: Sink;

before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
  // Each transaction holds its connection a while, so the first process keeps every slot busy.
  sink = await startSink({ starttls: false, dataDelayMs: 40 });
});

after(async () => {
  await sink?.close();
  await hk?.stop();
});

const key = "slots-share.test";
const budget = { key, maxConnections: 4, messagesPerConnection: Number.POSITIVE_INFINITY, idleMs: 10_000 };

function worker(name: string) {
  const slots = new ConnectionSlots(hk.service.db, 60_000);
  const pool = new ConnectionPool({ heloName: "hikyaku.test", timeoutMs: 10_000, slots });
  let n = 0;
  const send = (): Promise<Outcome | undefined> => {
    const rcpt = `${name}${n++}@dest.test`;
    return attemptDomain(pool, {
      envelopeFrom: "a@shop.test",
      recipients: [rcpt],
      raw: Buffer.from(`From: a@shop.test\r\nTo: ${rcpt}\r\nMessage-ID: <${rcpt}>\r\nSubject: share\r\n\r\nhello\r\n`),
      targets: [{ host: "mx.dest.test", ip: sink.host, port: sink.port }],
      tls: "opportunistic",
      maxRecipientsPerTransaction: 100,
      budget,
    }).then((m) => m.get(rcpt));
  };
  const tick = async () => {
    for (const request of await slots.renew(3000)) pool.handBack(request);
  };
  const held = () => pool.openConnections().get(key) ?? 0;
  /** The slots this worker leases in the database now: its connections, as every process counts them. */
  const leased = async () =>
    (
      await hk.service.db.sql<{ n: number }[]>`
      select count(*)::int as n from destination_connections where key = ${key} and holder = ${slots.holder} and expires_at > now()`
    )[0]?.n ?? 0;
  return { pool, send, tick, held, leased, slots };
}

test("a worker that starts after another leased every slot gets a share of them, and parks nothing", async () => {
  const a = worker("a");
  const b = worker("b");
  let running = true;
  // Each second, as the shaper does; `ticked` settles after each round.
  let ticked: () => void = () => {};
  const ticker = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, 1000));
      await Promise.all([a.tick(), b.tick()]).catch(() => {});
      ticked();
    }
  })();
  // The first worker: 12 transactions in a row at all times, on every slot.
  const aOutcomes: (Outcome | undefined)[] = [];
  const streams = Array.from({ length: 12 }, async () => {
    while (running) aOutcomes.push(await a.send());
  });
  try {
    const deadline = Date.now() + 10_000;
    while (a.held() < budget.maxConnections && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.held(), budget.maxConnections, "the first worker holds every slot");
    // The second worker: 12 transactions at once, each waiting its turn, starting right
    // after a round of renewals, so the first worker hears of them only a second later.
    await new Promise<void>((r) => {
      ticked = r;
    });
    const bOutcomes = await Promise.all(Array.from({ length: 12 }, () => b.send()));
    const busy = bOutcomes.filter((o) => o?.kind !== "delivered");
    assert.deepEqual(
      busy.map((o) => `${o?.kind} ${o?.service ?? ""} ${o?.response ?? ""}`),
      [],
      "every transaction of the second worker delivered, none parked as destination_busy",
    );
    assert.ok(b.held() >= 1, `the second worker holds ${b.held()} of ${budget.maxConnections} connections`);
    const [row] = await hk.service.db.sql<{ n: number }[]>`
      select count(*)::int as n from destination_connections where key = ${key} and expires_at > now()`;
    assert.ok((row?.n ?? 0) <= budget.maxConnections, `slots leased: ${row?.n}`);
  } finally {
    running = false;
    await Promise.all([...streams, ticker]);
    a.pool.close();
    b.pool.close();
    await hk.service.db.sql`delete from destination_connections where key = ${key}`;
  }
  assert.ok(
    aOutcomes.every((o) => o?.kind === "delivered"),
    `the first worker's transactions delivered: ${aOutcomes.filter((o) => o?.kind !== "delivered").length} not`,
  );
});

test("two workers that both stay busy settle at a fair share each and stop passing connections back and forth", async () => {
  const a = worker("p");
  const b = worker("q");
  let running = true;
  const ticker = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, 1000));
      await Promise.all([a.tick(), b.tick()]).catch(() => {});
    }
  })();
  const outcomes: (Outcome | undefined)[] = [];
  const stream = (w: ReturnType<typeof worker>) =>
    Array.from({ length: 12 }, async () => {
      while (running) outcomes.push(await w.send());
    });
  const streams = stream(a);
  try {
    const deadline = Date.now() + 10_000;
    while (a.held() < budget.maxConnections && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    streams.push(...stream(b));
    // Let the shares even out (a quarter a second from 4 to 2), then watch for three seconds.
    const share = async () => `${await a.leased()}/${await b.leased()}`;
    const settle = Date.now() + 8000;
    while ((await share()) !== "2/2" && Date.now() < settle) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await share(), "2/2", "each worker leases half of the 4 slots");
    const opened = sink.connections;
    const shares: string[] = [];
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 100));
      shares.push(await share());
    }
    assert.equal(sink.connections - opened, 0, `no connection was opened again once the shares were even (shares seen: ${[...new Set(shares)].join(", ")})`);
    assert.ok(
      shares.every((s) => s === "2/2"),
      `shares stayed 2/2: ${[...new Set(shares)].join(", ")}`,
    );
  } finally {
    running = false;
    await Promise.all([...streams, ticker]);
    a.pool.close();
    b.pool.close();
    await hk.service.db.sql`delete from destination_connections where key = ${key}`;
  }
  assert.ok(
    outcomes.every((o) => o?.kind === "delivered"),
    `every transaction delivered: ${outcomes
      .filter((o) => o?.kind !== "delivered")
      .map((o) => `${o?.kind} ${o?.service ?? ""}`)
      .join("; ")}`,
  );
});
