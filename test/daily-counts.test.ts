// The usage chart's per-day counts: rolled up into quarter hours up to a watermark and
// counted live after it; days cut at the account's zone's midnights (any zone, from the
// same quarter hours); nothing counted twice or lost when the watermark moves, also when
// two views roll up at once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createAccount } from "../src/accounts/accounts.ts";
import { advanceClock, nowMs, resetClock } from "../src/clock.ts";
import { connect, type Db } from "../src/db/client.ts";
import { dailyCounts, rollUpCounts } from "../src/logs/daily-counts.ts";
import { testDatabase } from "./helpers/service.ts";

let db: Db;
let drop: () => Promise<void>;

before(async () => {
  const database = await testDatabase();
  drop = database.drop;
  db = connect(database.url, { max: 4 });
});

after(async () => {
  resetClock();
  await db?.close();
  await drop?.();
});

async function account(): Promise<string> {
  return (await createAccount(db, `counts-${crypto.randomUUID()}`)).account.id;
}

async function delivery(accountId: string, at: Date, event: string) {
  await db.sql`
    insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender, channel, attempt, code, response, code_source)
    values (${accountId}, ${at}, ${event}, ${crypto.randomUUID()}, 'a@example.jp', 'b@shop.test', 'http', 1, 250, 'ok', 'destination')`;
}

async function reception(accountId: string, at: Date, accepted: boolean) {
  await db.sql`
    insert into reception_events (account_id, created_at, channel, envelope_sender, recipient_count, accepted, code, reason)
    values (${accountId}, ${at}, 'http', 'b@shop.test', 1, ${accepted}, ${accepted ? 250 : 550}, ${accepted ? "accepted" : "refused"})`;
}

/** The days of the month that have something, as [day, accepted, delivered, bounced, expired]. */
async function nonZero(accountId: string, month: string, zone: string) {
  const days = await dailyCounts(db, accountId, month, zone);
  return days.filter((d) => d.accepted + d.delivered + d.bounced + d.expired > 0).map((d) => [d.day, d.accepted, d.delivered, d.bounced, d.expired]);
}

test("days are cut at the zone's midnights from the rolled-up quarter hours; non-final events and refusals are not counted", async () => {
  const a = await account();
  await delivery(a, new Date("2026-09-30T14:59:00Z"), "bounced"); // 30 September 23:59 in Tokyo
  await delivery(a, new Date("2026-09-30T15:00:00Z"), "delivered"); // 1 October 00:00 in Tokyo
  await delivery(a, new Date("2026-10-15T03:00:00Z"), "deferred");
  await delivery(a, new Date("2026-10-15T03:00:00Z"), "delivered");
  await delivery(a, new Date("2026-10-31T14:59:59Z"), "expired"); // 31 October 23:59:59 in Tokyo
  await delivery(a, new Date("2026-10-31T15:00:00Z"), "delivered"); // 1 November in Tokyo
  await reception(a, new Date("2026-10-15T03:10:00Z"), true);
  await reception(a, new Date("2026-10-15T03:20:00Z"), false);
  const tokyo = [
    ["2026-10-01", 0, 1, 0, 0],
    ["2026-10-15", 1, 1, 0, 0],
    ["2026-10-31", 0, 0, 0, 1],
  ];
  assert.deepEqual(await nonZero(a, "2026-10", "Asia/Tokyo"), tokyo);
  assert.equal(Number((await db.sql`select count(*) as n from log_counts where account_id = ${a}`)[0]?.n), 5, "five quarter hours");
  // Again: the same, nothing added twice.
  assert.deepEqual(await nonZero(a, "2026-10", "Asia/Tokyo"), tokyo);
  // The same quarter hours, read in UTC: the midnights move.
  assert.deepEqual(await nonZero(a, "2026-10", "UTC"), [
    ["2026-10-15", 1, 1, 0, 0],
    ["2026-10-31", 0, 1, 0, 1],
  ]);
  // Half-hour zones too (India, +05:30): 30 September 14:59 UTC is 20:29 there.
  assert.deepEqual(await nonZero(a, "2026-09", "Asia/Kolkata"), [["2026-09-30", 0, 1, 1, 0]]);
});

test("recent events are counted live; when the watermark passes them they move into the roll-up, neither lost nor doubled", async () => {
  const a = await account();
  try {
    const at = new Date(nowMs());
    const month = at.toISOString().slice(0, 7);
    const day = at.toISOString().slice(0, 10);
    await delivery(a, at, "delivered");
    await reception(a, at, true);
    assert.deepEqual(await nonZero(a, month, "UTC"), [[day, 1, 1, 0, 0]]);
    const [mark] = await db.sql<{ until: Date }[]>`select until from log_counts_until where account_id = ${a}`;
    assert.ok(mark && mark.until < at, "the watermark stays behind recent events");
    await delivery(a, at, "bounced");
    assert.deepEqual(await nonZero(a, month, "UTC"), [[day, 1, 1, 1, 0]]);
    advanceClock(2 * 3600_000);
    assert.ok((await rollUpCounts(db, a)) > at, "the watermark has passed the events");
    assert.deepEqual(await nonZero(a, month, "UTC"), [[day, 1, 1, 1, 0]]);
    assert.equal(Number((await db.sql`select sum(delivered + bounced + accepted) as n from log_counts where account_id = ${a}`)[0]?.n), 3);
  } finally {
    resetClock();
  }
});

test("two views rolling up at once count each event once", async () => {
  const a = await account();
  // Enough events that the roll-ups overlap in time.
  await db.sql`
    insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender, channel, attempt, code, response, code_source)
    select ${a}, timestamptz '2026-10-01 00:00:00+00' + g * interval '20 seconds', 'delivered', gen_random_uuid(), 'a@example.jp', 'b@shop.test',
      'http', 1, 250, 'ok', 'destination'
    from generate_series(0, 99999) g`;
  const views = await Promise.all([1, 2, 3, 4].map(() => dailyCounts(db, a, "2026-10", "UTC")));
  for (const days of views)
    assert.equal(
      days.reduce((n, d) => n + d.delivered, 0),
      100_000,
    );
  assert.equal(Number((await db.sql`select sum(delivered) as n from log_counts where account_id = ${a}`)[0]?.n), 100_000);
});
