// Destination shaping beside the rest of a message and the rest of a budget: a recipient
// parked for its shaped domain does not drag the message's other recipients into early
// attempts, and a budget whose connections are all idle to another server of the group
// (or another TLS mode) does not make a new transaction wait for them to time out.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, type TestService } from "./helpers/service.ts";
import { eventsOf, startWithPolicies } from "./helpers/shaping.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

let world: { hk: TestService; stop(): Promise<void> };
let hk: TestService;
let dns: TestDns;
let sink: Sink;
let sink3: Sink;
const greylisted: string[] = [];
let halfSlowed = false;

before(async () => {
  const port = await freePort("127.0.0.2");
  sink = await startSink({
    host: "127.0.0.2",
    port,
    starttls: false,
    onRcpt: (rcpt) => {
      if (rcpt === "r2@half.test" && !halfSlowed) {
        halfSlowed = true;
        return { code: 421, message: "4.7.0 Too many messages, slow down" };
      }
      if (!rcpt.endsWith("@grey.test")) return undefined;
      greylisted.push(rcpt);
      return { code: 451, message: "4.7.1 Greylisted, please come back later" };
    },
  });
  sink3 = await startSink({ host: "127.0.0.3", port, starttls: false });
  const mx = (name: string, host: string, ip: string) => ({ [name]: { MX: [{ exchange: host, priority: 10 }] }, [host]: { A: [ip] } });
  dns = await startDns({
    ...mx("grey.test", "mx.grey.test", "127.0.0.2"),
    ...mx("shaped.test", "mx.shaped.test", "127.0.0.2"),
    ...mx("one.test", "mx1.pair-mx.test", "127.0.0.2"),
    ...mx("two.test", "mx2.pair-mx.test", "127.0.0.3"),
    ...mx("half.test", "mx.half.test", "127.0.0.2"),
  });
  world = await startWithPolicies(
    { HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(port) },
    {
      // One transaction every 15 s.
      "shaped.test": { messages_per_minute: 4 },
      // One budget for two MX hosts on two addresses, one connection, kept idle for long.
      "pair.test": { max_connections: 1, idle_close_seconds: 300, mx_suffixes: [".pair-mx.test"] },
      "half.test": { recipients_per_transaction: 1 },
    },
  );
  hk = world.hk;
});

after(async () => {
  await world?.stop();
  await sink?.close();
  await sink3?.close();
  await dns?.close();
});

const ofSubject = (s: Sink, subject: string) => s.messages.filter((m) => m.raw.toString().includes(`Subject: ${subject}\r\n`));

test("a recipient parked for its shaped domain does not bring the message's deferred recipients back before their retry", async () => {
  const first = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: "s0@shaped.test", subject: "takes the slot", text: "x" });
  assert.equal(first.status, 202, JSON.stringify(first.body));
  await eventually(async () => ofSubject(sink, "takes the slot").length === 1, "the first shaped message at the sink");
  const r = await hk.api("POST", "/v1/messages", {
    from: "a@shop.test",
    to: ["g@grey.test", "s1@shaped.test"],
    subject: "two domains",
    text: "x",
    retry_interval: 3600,
  });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  await eventually(async () => ofSubject(sink, "two domains").length === 1, "the shaped recipient delivered once its slot came", 40_000);
  const evs = await eventsOf(hk.service.db, [r.body.id]);
  assert.ok(
    evs.some((e) => e.recipient === "s1@shaped.test" && e.serviceCode === "shaped"),
    `the shaped recipient waited for its slot: ${JSON.stringify(evs)}`,
  );
  // The greylisted recipient asked for an hour; the shaped one's wake-up is not its retry.
  assert.deepEqual(greylisted, ["g@grey.test"]);
  assert.deepEqual(
    evs.filter((e) => e.recipient === "g@grey.test").map((e) => `${e.event} ${e.attempt}`),
    ["deferred 1"],
  );
  const [row] = await hk.service.db.sql<{ state: string; attempts: number }[]>`
    select state, attempts from recipients where message_id = ${r.body.id} and address = 'g@grey.test'`;
  assert.deepEqual({ ...row }, { state: "deferred", attempts: 1 });
  const [queued] = await hk.service.db.sql<{ runAt: Date }[]>`select run_at as "runAt" from delivery_queue where message_id = ${r.body.id}`;
  // (an hour, or the message's lifetime if that ends first: minutes, not the shaped domain's seconds)
  assert.ok(queued && queued.runAt.getTime() > Date.now() + 600_000, `the message comes back for its retry: ${queued?.runAt.toISOString()}`);
});

test("a full budget whose only connection idles to another server of the group gives it up for the new transaction", async () => {
  const a = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: "a@one.test", subject: "pair one", text: "x" });
  assert.equal(a.status, 202);
  await eventually(async () => ofSubject(sink, "pair one").length === 1, "the first message, over mx1");
  const b = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: "b@two.test", subject: "pair two", text: "x" });
  assert.equal(b.status, 202);
  // Not after the 300 s idle close of mx1's connection.
  await eventually(async () => ofSubject(sink3, "pair two").length === 1, "the second message, over mx2", 20_000);
  assert.equal(sink3.peakConnections, 1);
  await eventually(async () => sink.openConnections === 0, "mx1's idle connection given up");
  const evs = await eventsOf(hk.service.db, [a.body.id, b.body.id]);
  assert.deepEqual(
    evs.filter((e) => e.event !== "deferred").map((e) => `${e.recipient} ${e.event} ${e.attempt}`),
    ["a@one.test delivered 1", "b@two.test delivered 1"],
  );
});

test("a shaping query that fails after a transaction went out does not turn its delivered recipients into retries", async () => {
  const db = hk.service.db;
  // The database refuses the backoff call the 421 below asks for (a failed statement, as in a failover).
  await db.sql`alter function destination_backoff rename to destination_backoff_away`;
  try {
    const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: ["r1@half.test", "r2@half.test"], subject: "half", text: "x" });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await eventually(async () => halfSlowed, "the second transaction told to slow down");
    await eventually(async () => (await eventsOf(db, [r.body.id])).filter((e) => e.recipient === "r1@half.test").length > 0, "r1's first outcome recorded");
  } finally {
    await db.sql`alter function destination_backoff_away rename to destination_backoff`;
  }
  const r1 = await eventually(async () => {
    const got = await db.sql<{ event: string; attempt: number }[]>`
      select event, attempt from delivery_events where recipient = 'r1@half.test' order by id`;
    return got.length > 0 ? got : undefined;
  }, "r1's events");
  assert.deepEqual(
    r1.map((e) => `${e.event} ${e.attempt}`),
    ["delivered 1"],
  );
  await eventually(async () => ofSubject(sink, "half").some((m) => m.envelope.to.includes("r2@half.test")), "r2 delivered on its retry", 30_000);
  assert.equal(ofSubject(sink, "half").filter((m) => m.envelope.to.includes("r1@half.test")).length, 1, "r1 received once");
});
