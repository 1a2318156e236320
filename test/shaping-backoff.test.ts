// Adaptive backoff and suspension against real servers on loopback: a destination that
// answers 421 "too many" gets its rate halved and a pause, the rest of its queue waits
// without spending attempts, and the rate recovers; a destination that refuses every
// connection is suspended for a growing while instead of being hammered.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, test } from "node:test";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, type TestService } from "./helpers/service.ts";
import { eventsOf, liveStateOf, startWithPolicies } from "./helpers/shaping.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

const BACKOFF_S = 3;
const RECOVER_S = 3;
const METRICS_TOKEN = "shaping-metrics-token-0123";

let world: Awaited<ReturnType<typeof startWithPolicies>>;
let hk: TestService;
let dns: TestDns;
let sink: Sink;
let refuser: net.Server;
let refused = 0;
const slowDowns: number[] = [];
/** A destination with no rate limit: it takes thirty, then says slow down once. */
let busy: Sink;
let busyTaken = 0;
let busySlowDown: number | undefined;

before(async () => {
  const port = await freePort("127.0.0.2");
  // The first three recipients are told to slow down; everything after is accepted.
  sink = await startSink({
    host: "127.0.0.2",
    port,
    starttls: false,
    onRcpt: () => {
      if (slowDowns.length >= 3) return undefined;
      slowDowns.push(Date.now());
      return { code: 421, message: "4.7.0 Too many messages from your IP, slow down" };
    },
  });
  busy = await startSink({
    host: "127.0.0.4",
    port,
    starttls: false,
    onRcpt: () => {
      if (busyTaken < 30 || busySlowDown !== undefined) {
        busyTaken++;
        return undefined;
      }
      busySlowDown = Date.now();
      return { code: 421, message: "4.7.0 Too many messages, slow down and try later" };
    },
  });
  // A destination that takes each connection and drops it before the greeting.
  refuser = net.createServer((sock) => {
    refused++;
    sock.destroy();
  });
  await new Promise<void>((r) => refuser.listen(port, "127.0.0.3", () => r()));
  dns = await startDns({
    "slow.test": { MX: [{ exchange: "mx.slow.test", priority: 10 }] },
    "mx.slow.test": { A: ["127.0.0.2"] },
    "down.test": { MX: [{ exchange: "mx.down.test", priority: 10 }] },
    "busy.test": { MX: [{ exchange: "mx.busy.test", priority: 10 }] },
    "mx.busy.test": { A: ["127.0.0.4"] },
    "mx.down.test": { A: ["127.0.0.3"] },
  });
  world = await startWithPolicies(
    {
      HIKYAKU_DNS_SERVERS: dns.address,
      HIKYAKU_MX_PORT: String(port),
      HIKYAKU_SHAPING_BACKOFF_SECONDS: String(BACKOFF_S),
      HIKYAKU_SHAPING_RECOVER_SECONDS: String(RECOVER_S),
      HIKYAKU_SHAPING_SUSPEND_SECONDS: "2",
      HIKYAKU_SHAPING_SUSPEND_MAX_SECONDS: "8",
      HIKYAKU_METRICS_TOKEN: METRICS_TOKEN,
    },
    // busy.test has no rate limit (as gmail.com, outlook.com and `*`); one connection, so
    // that what follows the slow-down waits behind it instead of being under way already.
    { "slow.test": { messages_per_minute: 600 }, "busy.test": { messages_per_minute: null, max_connections: 1 } },
  );
  hk = world.hk;
});

after(async () => {
  await world?.stop();
  await sink?.close();
  await busy?.close();
  await new Promise((r) => refuser?.close(r));
  await dns?.close();
});

async function post(to: string, i: number): Promise<string> {
  const r = await hk.api("POST", "/v1/messages", { from: "a@shop.test", to, subject: `m ${i}`, text: "x" });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id;
}

test("a 421 'too many' halves the rate and pauses the destination; the rest waits without attempts; the rate recovers", async () => {
  const db = hk.service.db;
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) ids.push(await post(`r${i}@slow.test`, i));

  const backedOff = await eventually(async () => {
    const s = await liveStateOf(hk, "slow.test");
    return s?.backoff_until ? s : undefined;
  }, "slow.test backed off, as the admin API shows it");
  assert.equal(backedOff.rate_factor, 0.5);
  assert.equal(backedOff.effective_messages_per_minute, 300);
  // The parked count is the worker's own counter: its /metrics says it.
  const metrics = await eventually(async () => {
    const text = await (await fetch(world.metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    return /^hikyaku_shaping_parked_recipients_total\{reason="destination_backoff"\} [1-9]\d*$/m.test(text) ? text : undefined;
  }, "parked recipients counted in the worker's /metrics");
  assert.match(metrics, /^hikyaku_shaping_rate_factor_ratio\{budget="slow\.test"\} 0\.5$/m);

  await sink.waitFor(12, 30_000);
  const first = slowDowns[0] as number;
  // Nothing was sent while the pause was in force (what was already under way aside).
  const during = sink.messages.filter((m) => m.receivedAt > first + 500 && m.receivedAt < first + (BACKOFF_S - 0.5) * 1000);
  assert.equal(during.length, 0, `${during.length} arrived during the pause`);

  const evs = await eventually(async () => {
    const got = await eventsOf(db, ids);
    return got.filter((e) => e.event === "delivered").length === ids.length ? got : undefined;
  }, "every outcome recorded");
  for (const id of ids) {
    const mine = evs.filter((e) => e.messageId === id);
    const refusedHere = mine.filter((e) => e.event === "deferred" && e.code === 421);
    for (const e of refusedHere) assert.equal(e.serviceCode, null, "the destination's own 421 is the destination's");
    const delivered = mine.filter((e) => e.event === "delivered");
    assert.equal(delivered.length, 1, `${id}: ${mine.map((e) => e.response).join(" | ")}`);
    // Only the 421s were attempts; waiting in the backoff was not.
    assert.equal(delivered[0]?.attempt, refusedHere.length + 1, mine.map((e) => `${e.attempt} ${e.response}`).join(" | "));
  }
  const parked = evs.filter((e) => e.serviceCode === "destination_backoff");
  assert.ok(parked.length > 0, "the rest of the queue waited for the backoff");
  for (const e of parked) assert.match(e.response, /^451 4\.4\.5 the destination asked to slow down.*next try at \d{4}-/);
  assert.equal(evs.filter((e) => e.event === "deferred" && e.code === 421).length, 3);

  await eventually(
    async () => {
      const s = await liveStateOf(hk, "slow.test");
      return s && s.rate_factor === 1 && s.backoff_until === null && s.effective_messages_per_minute === 600;
    },
    "the rate back to whole",
    (BACKOFF_S + RECOVER_S) * 1000 + 15_000,
  );
});

test("with no rate limit, a slow-down reply limits the destination to half its last minute's rate, and the limit goes once it has recovered", async () => {
  const db = hk.service.db;
  const first: string[] = [];
  for (let i = 0; i < 30; i++) first.push(await post(`f${i}@busy.test`, i));
  await busy.waitFor(30, 30_000);
  assert.equal((await liveStateOf(hk, "busy.test"))?.effective_messages_per_minute ?? null, null, "no limit before the slow-down");
  // The backoff takes its base from the sends the workers count (written once a second).
  await eventually(async () => ((await liveStateOf(hk, "busy.test"))?.sent_last_minute ?? 0) >= 30, "the thirty sends counted");
  const rest: string[] = [];
  for (let i = 0; i < 4; i++) rest.push(await post(`g${i}@busy.test`, i));

  const backedOff = await eventually(async () => {
    const s = await liveStateOf(hk, "busy.test");
    return s?.backoff_until ? s : undefined;
  }, "busy.test backed off, as the admin API shows it");
  assert.equal(backedOff.rate_factor, 0.5);
  const limit = backedOff.effective_messages_per_minute;
  assert.ok(
    limit !== null && limit >= 15 && limit <= Math.ceil(backedOff.sent_last_minute / 2),
    `limit ${limit}, sent ${backedOff.sent_last_minute} in the last minute`,
  );

  // The rest go at that rate (about one each 4 s), after the pause.
  await busy.waitFor(34, 60_000);
  const evs = await eventually(async () => {
    const got = await eventsOf(db, rest);
    return got.filter((e) => e.event === "delivered").length === rest.length ? got : undefined;
  }, "every outcome of the rest recorded");
  assert.equal(evs.filter((e) => e.event === "deferred" && e.code === 421).length, 1, "one slow-down reply");
  for (const id of rest) {
    const mine = evs.filter((e) => e.messageId === id);
    const delivered = mine.find((e) => e.event === "delivered");
    const refusedHere = mine.filter((e) => e.event === "deferred" && e.code === 421).length;
    assert.equal(delivered?.attempt, refusedHere + 1, mine.map((e) => `${e.attempt} ${e.response}`).join(" | "));
  }
  assert.ok(
    evs.some((e) => e.serviceCode === "destination_backoff"),
    evs.map((e) => `${e.event} ${e.response}`).join(" | "),
  );
  // Nothing went in the pause but what was already under way.
  const during = busy.messages.filter(
    (m) => m.receivedAt > (busySlowDown as number) + 500 && m.receivedAt < (busySlowDown as number) + (BACKOFF_S - 0.5) * 1000,
  );
  assert.equal(during.length, 0, `${during.length} arrived during the pause`);

  await eventually(
    async () => {
      const s = await liveStateOf(hk, "busy.test");
      return s && s.rate_factor === 1 && s.backoff_until === null && s.effective_messages_per_minute === null;
    },
    "the rate whole again, and no limit",
    (BACKOFF_S + RECOVER_S) * 1000 + 15_000,
  );
});

test("a destination that refuses every connection is suspended for a growing while, not hammered", async () => {
  const db = hk.service.db;
  const before = refused;
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push(await post(`r${i}@down.test`, i));
  // Suspended twice: 2 s, then (after one failed probe) 4 s.
  await eventually(
    async () => {
      const [s] = await db.sql<{ suspensions: number }[]>`select suspensions from destination_state where key = '*:down.test'`;
      return (s?.suspensions ?? 0) >= 2;
    },
    "a second suspension",
    30_000,
  );
  const live = await liveStateOf(hk, "down.test", ["mx.down.test"]);
  assert.equal(live?.key, "*:down.test");
  assert.ok(live?.suspended_until, "the suspension is in the admin API's live state");
  // Six first attempts, at most one retry each before the third failure in a row
  // suspends (on a loaded machine the posts and the first failures interleave), then one
  // probe at the end of each suspension. Retrying each second, as the retry interval
  // allows, would be more than forty over the two suspensions.
  const connections = refused - before;
  assert.ok(connections <= 6 + 6, `${connections} connection attempts`);

  const evs = await eventsOf(db, ids);
  const parked = evs.filter((e) => e.serviceCode === "destination_suspended");
  assert.ok(parked.length > 0, "messages waited for the suspension");
  for (const e of parked) assert.match(e.response, /^451 4\.4\.1 .*next try at \d{4}-/);
  const [attempts] = await db.sql<{ most: number }[]>`
    select max(attempts)::int as most from recipients where message_id = any(${ids}::uuid[])`;
  assert.ok((attempts?.most ?? 0) <= 3, `a recipient was attempted ${attempts?.most} times`);
});

test("the live state shows the limit of the policy in force: a PUT that changes or removes it shows at once", async () => {
  const admin = { authorization: `Bearer ${hk.config.HIKYAKU_ADMIN_TOKEN}` };
  const put = async (settings: object) => {
    const r = await hk.api("PUT", "/v1/admin/destination-policies/slow.test", settings, admin);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.policy.live as { key: string; effective_messages_per_minute: number | null }[]).find((s) => s.key === "slow.test");
  };
  // slow.test has state from the first test (sent mail, a backoff that has recovered).
  assert.equal((await liveStateOf(hk, "slow.test"))?.effective_messages_per_minute, 600);
  assert.equal((await put({ messages_per_minute: 120 }))?.effective_messages_per_minute, 120, "the PUT's own answer");
  assert.equal((await liveStateOf(hk, "slow.test"))?.effective_messages_per_minute, 120);
  // No limit: the shaper asks for no grant any more, so nothing it stores can say so.
  assert.equal((await put({ messages_per_minute: null }))?.effective_messages_per_minute, null);
  assert.equal((await liveStateOf(hk, "slow.test"))?.effective_messages_per_minute, null);
  const res = await fetch(`${hk.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /^hikyaku_shaping_rate_factor_ratio\{budget="slow\.test"\} 1$/m, "the budget's series are there");
  assert.doesNotMatch(text, /^hikyaku_shaping_rate_limit_messages_per_second\{budget="slow\.test"\}/m, "no limit, no limit series");
});
