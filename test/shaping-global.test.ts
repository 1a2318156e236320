// Destination limits hold across worker processes, counted at the destination: three
// real `hikyaku start` workers on one database send to a domain limited to 120 messages
// a minute and 2 connections, beside an unshaped domain. The shaped sink never sees more
// than the limit (plus a one-second burst) in any window, nor more than 2 connections at
// once; the unshaped domain is not held back; a high-priority message goes ahead of the
// shaped domain's waiting bulk mail; waiting costs no attempt.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setOverride } from "../src/delivery/policy-store.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { type Running, stopHikyaku } from "./helpers/hikyaku-process.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { eventsOf, liveStateOf, mostInWindow, startWorkers } from "./helpers/shaping.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

const PER_MINUTE = 120;
const BURST = Math.max(1, Math.floor(PER_MINUTE / 60));
const SHAPED = 40;
const FREE = 30;

let hk: TestService;
let dns: TestDns;
let shapedSink: Sink;
let freeSink: Sink;
let workers: Running[] = [];

before(async () => {
  const port = await freePort("127.0.0.2");
  shapedSink = await startSink({ host: "127.0.0.2", port, starttls: false });
  freeSink = await startSink({ host: "127.0.0.3", port, starttls: false });
  dns = await startDns({
    "shaped.test": { MX: [{ exchange: "mx.shaped.test", priority: 10 }] },
    "mx.shaped.test": { A: ["127.0.0.2"] },
    "free.test": { MX: [{ exchange: "mx.free.test", priority: 10 }] },
    "mx.free.test": { A: ["127.0.0.3"] },
  });
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
  await setOverride(hk.service.db, "shaped.test", { messages_per_minute: PER_MINUTE, max_connections: 2 });
  workers = await startWorkers(hk.service.db, hk.service.databaseUrl, 3, {
    HIKYAKU_DNS_SERVERS: dns.address,
    HIKYAKU_MX_PORT: String(port),
    HIKYAKU_WORKER_CONCURRENCY: "8",
  });
});

after(async () => {
  await Promise.all(workers.map((w) => stopHikyaku(w)));
  await hk?.stop();
  await shapedSink?.close();
  await freeSink?.close();
  await dns?.close();
});

const subjectOf = (raw: Buffer) => /^Subject: (.*)$/m.exec(raw.toString())?.[1];

test("three workers keep a domain at 120/min and 2 connections in total; others are not held back; high goes first", async () => {
  const db = hk.service.db;
  const shaped: string[] = [];
  const free: string[] = [];
  for (let i = 0; i < Math.max(SHAPED, FREE); i++) {
    if (i < SHAPED) {
      const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: `r${i}@shaped.test`, subject: `bulk ${i}`, text: "x", priority: "bulk" });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      shaped.push(r.body.id);
    }
    if (i < FREE) {
      const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: `r${i}@free.test`, subject: `free ${i}`, text: "x" });
      assert.equal(r.status, 202);
      free.push(r.body.id);
    }
  }

  // Once some bulk has gone, a high-priority message for the same domain.
  await shapedSink.waitFor(6, 60_000);
  const ahead = shapedSink.messages.length;
  const high = await hk.api("POST", "/v1/messages", { from: "city@shop.test", to: "resident@shaped.test", subject: "EVACUATE", text: "now", priority: "high" });
  assert.equal(high.status, 202);
  shaped.push(high.body.id);

  const live = await eventually(async () => {
    const s = await liveStateOf(hk, "shaped.test");
    return s && s.sent_last_minute > 0 ? s : undefined;
  }, "the live state of shaped.test, as the admin API shows it");
  assert.equal(live.effective_messages_per_minute, PER_MINUTE);
  assert.ok(live.connections_in_use <= 2, `connections in use ${live.connections_in_use}`);
  assert.equal(live.rate_factor, 1);

  await freeSink.waitFor(FREE, 60_000);
  await shapedSink.waitFor(SHAPED + 1, 90_000);

  const times = shapedSink.messages.map((m) => m.receivedAt);
  for (const seconds of [2, 5, 10]) {
    const most = mostInWindow(times, seconds * 1000);
    // GCRA: at most the window's share of the rate plus the burst; one more for arrival jitter.
    const bound = Math.floor((PER_MINUTE * seconds) / 60) + BURST + 1;
    const first = Math.min(...times);
    assert.ok(most <= bound, `${most} arrivals within ${seconds} s at the shaped sink (limit ${bound}): ${times.map((t) => t - first).join(", ")} ms`);
  }
  const span = Math.max(...times) - Math.min(...times);
  assert.ok(span >= ((SHAPED + 1 - BURST - 1) * 60_000) / PER_MINUTE, `all ${SHAPED + 1} arrived within ${span} ms: faster than the limit`);
  assert.ok(shapedSink.peakConnections <= 2, `${shapedSink.peakConnections} connections at once at the shaped sink`);

  // The unshaped domain finished while the shaped one was still well short of half.
  const lastFree = Math.max(...freeSink.messages.map((m) => m.receivedAt));
  const shapedByThen = times.filter((t) => t <= lastFree).length;
  assert.ok(shapedByThen < SHAPED / 2, `the free domain finished only after ${shapedByThen} shaped arrivals`);

  const order = shapedSink.messages.map((m) => subjectOf(m.raw));
  const hi = order.indexOf("EVACUATE");
  const highEvents = (await eventsOf(db, [high.body.id])).map((e) => `${e.createdAt.toISOString()} ${e.event} ${e.attempt} ${e.response}`);
  // Ahead of it only what had its slot already: granted within the one-second horizon,
  // or in flight, at 2 a second (and the high one's own reserved slot, a second away).
  assert.ok(hi >= 0 && hi <= ahead + 6, `high arrived at position ${hi}, posted after ${ahead}: ${order.join(", ")}\n${highEvents.join("\n")}`);

  // Waiting was never an attempt: each message delivered on its first, and the parked
  // deferrals say why and when, with the attempt count not moved.
  // The sink has them all; each outcome is committed just after its transaction ended.
  const evs = await eventually(async () => {
    const got = await eventsOf(db, shaped);
    return got.filter((e) => e.event === "delivered").length >= SHAPED + 1 ? got : undefined;
  }, "every shaped delivery in the log");
  const delivered = evs.filter((e) => e.event === "delivered");
  assert.equal(delivered.length, SHAPED + 1);
  assert.deepEqual([...new Set(delivered.map((e) => e.attempt))], [1]);
  const parked = evs.filter((e) => e.event === "deferred");
  assert.ok(parked.length > 0, "some messages waited");
  for (const e of parked) {
    assert.ok(e.serviceCode === "shaped" || e.serviceCode === "destination_busy", e.response);
    assert.equal(e.attempt, 0, e.response);
    assert.equal(e.code, 451);
    assert.match(e.response, /next try at \d{4}-\d\d-\d\dT/);
  }
  // One event per park, not one per second of waiting.
  assert.ok(parked.length < SHAPED * 3, `${parked.length} deferred events for ${SHAPED} messages`);
  const freeEvents = await eventsOf(db, free);
  assert.equal(freeEvents.filter((e) => e.event === "deferred").length, 0, "the free domain never waited");
});
