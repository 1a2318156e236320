// The connection side of destination policies, counted at a real sink: recipients per
// transaction, several messages over one connection and no more than
// messages_per_connection, idle connections closed after idle_close_seconds, and a
// destination that drops a reused connection costs a reconnect, not a failure; a rate
// holds at the destination also when its connections are slow to open.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, type TestService } from "./helpers/service.ts";
import { eventsOf, mostInWindow, startWithPolicies } from "./helpers/shaping.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

let world: { hk: TestService; stop(): Promise<void> };
let hk: TestService;
let dns: TestDns;
let sink: Sink;
let dropSink: Sink;
let dropped = 0;
let slowSink: Sink;
let slowOnceSink: Sink;

before(async () => {
  const port = await freePort("127.0.0.2");
  sink = await startSink({ host: "127.0.0.2", port, starttls: false });
  // Drops the connection at the second transaction's MAIL FROM, once: a server that had
  // closed an idle connection the client still holds.
  dropSink = await startSink({
    host: "127.0.0.3",
    port,
    starttls: false,
    dropAtMailFrom: ({ transaction }) => transaction === 2 && dropped++ === 0,
  });
  // Greets 2.5 s after the connection: transactions wait that long for their first connections.
  slowSink = await startSink({ host: "127.0.0.4", port, starttls: false, greetingDelayMs: 2500 });
  slowOnceSink = await startSink({ host: "127.0.0.5", port, starttls: false, greetingDelayMs: 2500 });
  const mx = (name: string, ip: string) => ({ [name]: { MX: [{ exchange: `mx.${name}`, priority: 10 }] }, [`mx.${name}`]: { A: [ip] } });
  dns = await startDns({
    ...mx("rcpt.test", "127.0.0.2"),
    ...mx("reuse.test", "127.0.0.2"),
    ...mx("idle.test", "127.0.0.2"),
    ...mx("drop.test", "127.0.0.3"),
    ...mx("slow.test", "127.0.0.4"),
    ...mx("once.test", "127.0.0.5"),
  });
  world = await startWithPolicies(
    { HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(port) },
    {
      "rcpt.test": { recipients_per_transaction: 3 },
      "reuse.test": { max_connections: 1, messages_per_connection: 4 },
      "idle.test": { idle_close_seconds: 1 },
      "slow.test": { messages_per_minute: 120, max_connections: 2 },
      "once.test": { messages_per_minute: 120, max_connections: 2, messages_per_connection: 1 },
    },
  );
  hk = world.hk;
});

after(async () => {
  await world?.stop();
  await sink?.close();
  await dropSink?.close();
  await slowSink?.close();
  await slowOnceSink?.close();
  await dns?.close();
});

/** n messages, one each to <local>0@domain, <local>1@domain, …; their ids. */
async function postMany(n: number, local: string, domain: string, subject: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: `${local}${i}@${domain}`, subject, text: `${i}` });
    assert.equal(r.status, 202);
    ids.push(r.body.id);
  }
  return ids;
}

/** Waits until the log has each of these messages delivered, and checks it took one attempt. */
async function deliveredOnFirstAttempt(ids: string[]): Promise<void> {
  const evs = await eventually(async () => {
    const got = await eventsOf(hk.service.db, ids);
    return got.filter((e) => e.event === "delivered").length === ids.length ? got : undefined;
  }, `${ids.length} delivered in the log`);
  assert.deepEqual([...new Set(evs.filter((e) => e.event === "delivered").map((e) => e.attempt))], [1], "each on its first attempt");
}

const ofSubject = (s: Sink, subject: string) => s.messages.filter((m) => m.raw.toString().includes(`Subject: ${subject}\r\n`));

test("recipients_per_transaction: 7 recipients go in transactions of 3, 3 and 1", async () => {
  const to = Array.from({ length: 7 }, (_, i) => `p${i}@rcpt.test`);
  const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to, subject: "rcpt", text: "x" });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await eventually(async () => ofSubject(sink, "rcpt").reduce((n, m) => n + m.envelope.to.length, 0) === 7, "all 7 recipients at the sink");
  const sizes = ofSubject(sink, "rcpt")
    .map((m) => m.envelope.to.length)
    .sort((a, b) => b - a);
  assert.deepEqual(sizes, [3, 3, 1]);
  await eventually(
    async () => (await eventsOf(hk.service.db, [r.body.id])).filter((e) => e.event === "delivered" && e.attempt === 1).length === 7,
    "7 delivered on the first attempt",
  );
});

test("several messages over one connection, and at most messages_per_connection on each", async () => {
  await postMany(10, "q", "reuse.test", "reuse");
  await eventually(async () => ofSubject(sink, "reuse").length === 10, "10 messages at the sink");
  const perSession = new Map<string, number>();
  for (const m of ofSubject(sink, "reuse")) perSession.set(m.session, (perSession.get(m.session) ?? 0) + 1);
  const counts = [...perSession.values()];
  assert.ok(Math.max(...counts) <= 4, `transactions per connection: ${counts.join(", ")}`);
  assert.ok(counts.length <= 5, `${counts.length} connections for 10 messages: ${counts.join(", ")}`);
  assert.ok(
    counts.some((n) => n > 1),
    "a connection carried several messages",
  );
});

test("idle_close_seconds: an idle connection is closed after a second", async () => {
  const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: "i@idle.test", subject: "idle", text: "x" });
  assert.equal(r.status, 202);
  await eventually(async () => ofSubject(sink, "idle").length === 1, "the message at the sink");
  // This connection, and the reuse test's last one (it quits after 4 only), closed long before the 15 s default.
  await eventually(async () => sink.openConnections === 0, "the idle connection closed", 10_000);
});

test("a destination that drops a reused connection costs a reconnect, not a failure", async () => {
  const first = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: "d1@drop.test", subject: "drop 1", text: "x" });
  await eventually(async () => ofSubject(dropSink, "drop 1").length === 1, "the first message");
  const second = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: "d2@drop.test", subject: "drop 2", text: "x" });
  await eventually(async () => ofSubject(dropSink, "drop 2").length === 1, "the second message, over a new connection");
  assert.equal(dropped, 1, "the sink dropped the reused connection once");
  assert.equal(dropSink.connections, 2);
  const evs = await eventually(async () => {
    const got = await eventsOf(hk.service.db, [first.body.id, second.body.id]);
    return got.length >= 2 ? got : undefined;
  }, "both outcomes recorded");
  assert.deepEqual(
    evs.map((e) => `${e.recipient} ${e.event} ${e.attempt}`),
    ["d1@drop.test delivered 1", "d2@drop.test delivered 1"],
  );
});

test("a rate holds at the destination when its connections are slow to open: slots that passed while waiting are not sent in a bunch", async () => {
  const ids = await postMany(8, "s", "slow.test", "slow");
  await slowSink.waitFor(8, 30_000);
  const times = slowSink.messages.map((m) => m.receivedAt);
  const first = Math.min(...times);
  // 120 a minute with a burst of 2 (one more for arrival jitter). Sent as soon as a
  // connection came, the 4 to 6 transactions that waited for the first two arrived
  // within 50 ms of each other.
  for (const [ms, bound] of [
    [500, 4],
    [1000, 5],
  ] as const) {
    const most = mostInWindow(times, ms);
    assert.ok(most <= bound, `${most} arrivals within ${ms} ms (limit ${bound}): ${times.map((t) => t - first).join(", ")} ms`);
  }
  assert.ok(slowSink.peakConnections <= 2, `${slowSink.peakConnections} connections at once`);
  await deliveredOnFirstAttempt(ids);
});

test("a connection opened for a slot that passed is kept for the next one, also when it may carry one message", async () => {
  // Every new connection takes 2.5 s to greet, and each carries one message: had the
  // unsent transaction counted as the connection's one, it would be quit unused, and
  // every next try would wait for a new one and be late again.
  const ids = await postMany(4, "o", "once.test", "once");
  await slowOnceSink.waitFor(4, 40_000);
  assert.ok(slowOnceSink.connections <= 6, `${slowOnceSink.connections} connections for 4 messages`);
  assert.ok(slowOnceSink.peakConnections <= 2, `${slowOnceSink.peakConnections} connections at once`);
  await deliveredOnFirstAttempt(ids);
});
