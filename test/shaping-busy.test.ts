// A budget whose connections are all in use does not hold the worker: a transaction that
// finds no connection free waits a few seconds at most, then parks as destination_busy
// (no attempt spent), so a slow destination cannot keep an unshaped domain's messages
// waiting behind the worker's few job slots; and the parked messages come back spread
// out, not all at once every second.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, type TestService } from "./helpers/service.ts";
import { eventsOf, startWithPolicies } from "./helpers/shaping.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

let world: { hk: TestService; stop(): Promise<void> };
let hk: TestService;
let dns: TestDns;
let slow: Sink;
let fast: Sink;
let release: () => void = () => {};
const held = new Promise<void>((r) => {
  release = r;
});

before(async () => {
  const port = await freePort("127.0.0.2");
  // Holds every DATA answer until the test lets go: its one connection stays in use.
  slow = await startSink({ host: "127.0.0.2", port, starttls: false, holdData: held });
  fast = await startSink({ host: "127.0.0.3", port, starttls: false });
  const mx = (name: string, ip: string) => ({ [name]: { MX: [{ exchange: `mx.${name}`, priority: 10 }] }, [`mx.${name}`]: { A: [ip] } });
  dns = await startDns({ ...mx("slow.test", "127.0.0.2"), ...mx("fast.test", "127.0.0.3"), ...mx("lease.test", "127.0.0.3") });
  world = await startWithPolicies(
    {
      HIKYAKU_DNS_SERVERS: dns.address,
      HIKYAKU_MX_PORT: String(port),
      // The default: a wait for a connection bounded only by this would hold a job slot for a minute.
      HIKYAKU_SMTP_TIMEOUT: "60",
      HIKYAKU_WORKER_CONCURRENCY: "2",
      HIKYAKU_JOB_BATCH: "1",
    },
    { "slow.test": { max_connections: 1 }, "lease.test": { max_connections: 2 } },
  );
  hk = world.hk;
});

after(async () => {
  release();
  await world?.stop();
  await slow?.close();
  await fast?.close();
  await dns?.close();
});

test("a budget with every connection in use parks its messages instead of keeping another domain's waiting", async () => {
  const db = hk.service.db;
  const slowIds: string[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: `s${i}@slow.test`, subject: `slow ${i}`, text: "x" });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    slowIds.push(r.body.id);
  }
  await eventually(async () => slow.openConnections === 1, "the slow destination's one connection in DATA");
  const f = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: "f@fast.test", subject: "fast", text: "x" });
  assert.equal(f.status, 202, JSON.stringify(f.body));
  // While the slow connection is still held: before, each waiting job kept its slot for HIKYAKU_SMTP_TIMEOUT (60 s).
  await eventually(async () => fast.messages.length === 1, "the unshaped domain's message delivered while the slow one holds DATA", 40_000);
  assert.equal(slow.messages.length, 0, "the slow destination still holds its first DATA");
  await eventually(
    async () => {
      const evs = await eventsOf(db, slowIds);
      return new Set(evs.filter((e) => e.serviceCode === "destination_busy").map((e) => e.messageId)).size >= 5;
    },
    "every slow message but the one in DATA parked as destination_busy",
    40_000,
  );
  const busyAtRelease = (await eventsOf(db, slowIds)).filter((e) => e.serviceCode === "destination_busy");
  release();
  await eventually(async () => slow.messages.length === 6, "every slow message delivered once the destination answers", 120_000);
  assert.equal(slow.peakConnections, 1);
  const evs = await eventually(async () => {
    const got = await eventsOf(db, slowIds);
    return got.filter((e) => e.event === "delivered").length === 6 ? got : undefined;
  }, "every delivery recorded");
  // Parking is not an attempt: each message was delivered on its first.
  assert.deepEqual(
    evs
      .filter((e) => e.event !== "deferred")
      .map((e) => `${e.event} ${e.attempt}`)
      .sort(),
    Array.from({ length: 6 }, () => "delivered 1"),
  );
  // One deferred event per park, and the parked come back spread out: the five parked at
  // once were not all told to look again within the same couple of seconds.
  const firstParks = new Map<string, number>();
  for (const e of busyAtRelease) {
    const until = /next try at (\S+) \(/.exec(e.response)?.[1];
    if (until && !firstParks.has(e.messageId)) firstParks.set(e.messageId, Date.parse(until));
  }
  const times = [...firstParks.values()].sort((a, b) => a - b);
  assert.ok(times.length >= 5, `parks with their next try: ${JSON.stringify(busyAtRelease)}`);
  assert.ok(
    (times.at(-1) as number) - (times[0] as number) >= 3000,
    `the parked messages come back spread out: ${times.map((t) => new Date(t).toISOString())}`,
  );
  const busy = evs.filter((e) => e.serviceCode === "destination_busy");
  assert.ok(busy.length <= 5 * 4, `parked messages did not churn: ${busy.length} destination_busy events`);
});

test("a connection slot that cannot be leased (a database error) parks the message: no attempt, no step towards suspension", async () => {
  const db = hk.service.db;
  // The slot table is away, as in a failover: every lease query fails.
  await db.sql`alter table destination_connections rename to destination_connections_away`;
  const ids: string[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to: `l${i}@lease.test`, subject: `lease ${i}`, text: "x" });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      ids.push(r.body.id);
    }
    await eventually(
      async () => new Set((await eventsOf(db, ids)).filter((e) => e.event === "deferred").map((e) => e.messageId)).size === 3,
      "each message put back once",
      30_000,
    );
  } finally {
    await db.sql`alter table destination_connections_away rename to destination_connections`;
  }
  await eventually(
    async () => fast.messages.filter((m) => m.envelope.to[0]?.endsWith("@lease.test")).length === 3,
    "delivered once the slots are back",
    60_000,
  );
  const evs = await eventually(async () => {
    const got = await eventsOf(db, ids);
    return got.filter((e) => e.event === "delivered").length === 3 ? got : undefined;
  }, "every delivery recorded");
  const deferred = evs.filter((e) => e.event === "deferred");
  assert.ok(
    deferred.every((e) => e.serviceCode !== "connection_failed" && e.attempt === 0),
    `Hikyaku's own failure, not the destination's, and not an attempt: ${JSON.stringify(deferred)}`,
  );
  assert.deepEqual(
    evs
      .filter((e) => e.event !== "deferred")
      .map((e) => `${e.event} ${e.attempt}`)
      .sort(),
    ["delivered 1", "delivered 1", "delivered 1"],
  );
  const [state] = await db.sql<{ connectFailures: number; suspensions: number }[]>`
    select connect_failures as "connectFailures", suspensions from destination_state where key like '%lease.test'`;
  assert.deepEqual({ connectFailures: state?.connectFailures ?? 0, suspensions: state?.suspensions ?? 0 }, { connectFailures: 0, suspensions: 0 });
});
