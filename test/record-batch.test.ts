// recordOutcomes() shares statements between calls made at the same moment (group
// commit, src/delivery/record.ts). Each call must still get its own answer and its own
// effects: the state guard, one event per recipient moved, the pending count and the
// deleted bytes when two calls for one message land together, one retry row at the
// earliest time, usage; and a call that cannot be written must not fail the others
// (its batch is split until it is alone).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { accept } from "../src/accept/accept.ts";
import { type MessageRef, type RecipientOutcome, type Recorded, recordOutcomes } from "../src/delivery/record.ts";
import { deferred, startTestService, type TestService } from "./helpers/service.ts";

let hk: TestService;

before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api" }); // no worker: only this test moves recipients
});

after(async () => {
  await hk?.stop();
});

const outcome = (code: number, response: string): RecipientOutcome["outcome"] => ({
  code,
  enhanced: `${String(code)[0]}.0.0`,
  response,
  source: "destination",
  mxHost: "mx.example.jp",
  mxIp: "192.0.2.25",
  tls: true,
});

test("calls recorded together keep their own guards, events, counts, retries and answers", async () => {
  const sql = hk.service.db.sql;
  const deps = { db: hk.service.db, config: hk.config };
  const messages: { ref: MessageRef; rcpts: { id: number; address: string }[] }[] = [];
  for (let n = 0; n < 10; n++) {
    const to = [`a${n}@example.jp`, `b${n}@example.jp`];
    const a = await accept(deps, {
      accountId: hk.accountId,
      channel: "http",
      sourceIp: null,
      envelopeFrom: "bounces@shop.test",
      recipients: to,
      raw: Buffer.from(`From: shop@shop.test\r\nSubject: ${n}\r\n\r\nhello\r\n`),
    });
    const rcpts = await sql<{ id: number; address: string }[]>`select id, address from recipients where message_id = ${a.id} order by id`;
    messages.push({
      ref: { id: a.id, accountId: hk.accountId, envelopeFrom: "bounces@shop.test", sourceIp: null, channel: "http", priority: 0, tags: [] },
      rcpts: [...rcpts],
    });
  }
  // As if a worker had claimed them all.
  await sql`update recipients set state = 'sending', attempts = 1`;
  await sql`delete from delivery_queue`;
  const at = new Date();
  const later = (s: number) => new Date(at.getTime() + s * 1000);
  const m = (n: number) => messages[n] as (typeof messages)[number];
  const rid = (n: number, k: number) => m(n).rcpts[k]?.id as number;

  type Plan = [number, RecipientOutcome[], Parameters<typeof recordOutcomes>[3]];
  const plans: Plan[] = [];
  // Messages 0-5: one call delivers a, another bounces b, so both land in one batch.
  for (let n = 0; n < 6; n++) {
    plans.push([n, [{ recipientId: rid(n, 0), event: "delivered", outcome: outcome(250, "250 2.0.0 OK") }], { from: ["sending"], at }]);
    plans.push([n, [{ recipientId: rid(n, 1), event: "bounced", outcome: outcome(550, "550 5.1.1 unknown") }], { from: ["sending"], at }]);
  }
  // Message 6: both deferred in one call, retry in 60 s.
  plans.push([
    6,
    [0, 1].map((k) => ({ recipientId: rid(6, k), event: "deferred" as const, outcome: outcome(451, "451 4.7.1 later") })),
    { from: ["sending"], at, retryAt: later(60) },
  ]);
  // Message 7: two calls defer one each, at different times: one retry row, the earlier.
  plans.push([7, [{ recipientId: rid(7, 0), event: "deferred", outcome: outcome(451, "451 a") }], { from: ["sending"], at, retryAt: later(120) }]);
  plans.push([7, [{ recipientId: rid(7, 1), event: "deferred", outcome: outcome(451, "451 b") }], { from: ["sending"], at, retryAt: later(30) }]);
  // Message 8: the guard does not match (they are sending, not queued): nothing moves.
  plans.push([8, [{ recipientId: rid(8, 0), event: "cancelled", outcome: outcome(0, "cancelled") }], { from: ["queued"], at }]);
  // Message 9: a reply code no column can hold: this call fails, alone.
  plans.push([9, [{ recipientId: rid(9, 0), event: "delivered", outcome: outcome(2 ** 40, "250 odd") }], { from: ["sending"], at }]);

  // Hold every message row, so the first statements wait and the rest queue behind them.
  const locked = deferred();
  const released = deferred();
  const holder = sql.begin(async (tx) => {
    await tx`select 1 from messages for update`;
    locked.resolve();
    await released.promise;
  });
  await locked.promise;
  const pending = Promise.allSettled(plans.map(([n, items, opts]) => recordOutcomes(sql, m(n).ref, items, opts)));
  await new Promise((r) => setTimeout(r, 300));
  released.resolve();
  await holder;
  const results = await pending;

  const answer = (i: number) => {
    const r = results[i];
    assert.equal(r?.status, "fulfilled", `call ${i}: ${r?.status === "rejected" ? String(r.reason) : ""}`);
    return (r as PromiseFulfilledResult<Recorded>).value;
  };
  for (let n = 0; n < 6; n++) {
    const delivered = answer(2 * n);
    const bounced = answer(2 * n + 1);
    assert.equal(delivered.moved, 1);
    assert.deepEqual(delivered.failed, []);
    assert.equal(bounced.moved, 1);
    assert.deepEqual(bounced.failed, [{ id: rid(n, 1), address: `b${n}@example.jp`, state: "bounced" }]);
    const [row] =
      await sql`select pending, (select count(*)::int from message_contents where message_id = ${m(n).ref.id}) as bytes from messages where id = ${m(n).ref.id}`;
    assert.deepEqual({ ...row }, { pending: 0, bytes: 0 }, `message ${n} is final and its bytes are gone`);
  }
  assert.equal(answer(12).moved, 2);
  assert.equal(answer(12).pending, 2, "deferred recipients stay pending");
  assert.equal(answer(13).moved, 1);
  assert.equal(answer(14).moved, 1);
  assert.deepEqual(answer(15), { moved: 0, pending: null, cancelled: false, failed: [], dsn: [] }, "the guard held");
  assert.equal(results[16]?.status, "rejected", "the impossible code is refused");

  const queue = await sql<{ message_id: string; run_at: Date }[]>`select message_id, run_at from delivery_queue order by run_at`;
  assert.deepEqual(
    queue.map((q) => [q.message_id, q.run_at.getTime()]),
    [
      [m(7).ref.id, later(30).getTime()],
      [m(6).ref.id, later(60).getTime()],
    ],
  );
  const states = await sql<{ state: string; n: number }[]>`select state, count(*)::int as n from recipients group by state order by state`;
  assert.deepEqual(
    states.map((s) => [s.state, s.n]),
    [
      ["bounced", 6],
      ["deferred", 4],
      ["delivered", 6],
      ["sending", 4],
    ],
  );
  const events = await sql<{ event: string; n: number }[]>`select event, count(*)::int as n from delivery_events group by event order by event`;
  assert.deepEqual(
    events.map((e) => [e.event, e.n]),
    [
      ["bounced", 6],
      ["deferred", 4],
      ["delivered", 6],
    ],
  );
  const [u] = await sql`select sum(delivered)::int as delivered, sum(bounced)::int as bounced from usage_counters where account_id = ${hk.accountId}`;
  assert.deepEqual({ ...u }, { delivered: 6, bounced: 6 });
  const [t] = await sql`select count(distinct tx)::int as n from delivery_events`;
  assert.ok((t?.n ?? 16) <= 8, `${t?.n} transactions wrote the events of 16 calls`);
});
