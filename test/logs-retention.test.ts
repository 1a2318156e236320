// Retention: log events and finished messages go after HIKYAKU_LOG_RETENTION_DAYS (31),
// idempotency keys after a day, AUTH failures after an hour; usage counters stay. Time
// is moved with the clock module, never slept through.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { advanceClock, now, resetClock } from "../src/clock.ts";
import { deleteExpired } from "../src/logs/retention.ts";
import { eventually, type MxWorld, startWithMx, type TestService } from "./helpers/service.ts";
import { insertDelivery, insertReception } from "./logs-fixtures.ts";

let world: MxWorld;
let hk: TestService;

before(async () => {
  world = await startWithMx();
  ({ hk } = world);
});

after(async () => {
  resetClock();
  await world?.stop();
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

async function count(table: string, where = "true"): Promise<number> {
  const [row] = await hk.service.db.sql.unsafe(`select count(*)::int as n from ${table} where ${where}`);
  return row?.n as number;
}

async function retention() {
  return deleteExpired(hk.service.db, { retentionDays: hk.config.HIKYAKU_LOG_RETENTION_DAYS, batch: 2 });
}

test("each kind of record is kept until its period has passed, and deleted a minute after", async () => {
  const start = now().getTime();
  const sent = [];
  for (const i of [1, 2]) {
    const r = await hk.api("POST", "/v1/messages", { from: "shop@shop.test", to: `r${i}@ok.test`, subject: "s", text: "t" }, { "Idempotency-Key": `k${i}` });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    sent.push(r.body.id as string);
  }
  await eventually(async () => (await count("delivery_events", "event = 'delivered'")) === 2, "both deliveries");
  for (let i = 0; i < 5; i++) await insertDelivery(hk.service.db.sql, { accountId: hk.accountId, event: "bounced", tags: ["otp", `t${i}`] });
  await insertReception(hk.service.db.sql, { accountId: null as never, accepted: false });
  await hk.service.db.sql`insert into auth_failures (key, at) values ('ip:192.0.2.1', ${now()})`;
  // The second message stands for one that is still being delivered.
  await hk.service.db.sql`update messages set pending = 1 where id = ${sent[1] ?? ""}`;
  const usageBefore = await hk.api("GET", "/v1/usage");
  const moveTo = (ms: number) => advanceClock(start + ms - now().getTime());

  moveTo(HOUR - MINUTE);
  assert.equal((await retention()).authFailures, 0);
  moveTo(HOUR + MINUTE);
  assert.equal((await retention()).authFailures, 1);

  moveTo(DAY - MINUTE);
  assert.equal((await retention()).idempotencyKeys, 0);
  moveTo(DAY + MINUTE);
  assert.equal((await retention()).idempotencyKeys, 2);

  moveTo(31 * DAY - MINUTE);
  assert.deepEqual(await retention(), { deliveryEvents: 0, receptionEvents: 0, messages: 0, idempotencyKeys: 0, authFailures: 0 });
  assert.equal((await hk.api("GET", "/v1/logs")).body.data.length, 7);
  assert.equal((await hk.api("GET", "/v1/logs?tag=otp")).body.data.length, 5);

  moveTo(31 * DAY + MINUTE);
  const deleted = await retention();
  assert.deepEqual(deleted, { deliveryEvents: 7, receptionEvents: 3, messages: 0, idempotencyKeys: 0, authFailures: 0 });
  assert.equal((await hk.api("GET", "/v1/logs")).body.data.length, 0);
  assert.equal((await hk.api("GET", "/v1/logs?type=reception")).body.data.length, 0);
  assert.equal(await count("delivery_event_tags"), 0, "the events' tag rows went with them");

  // A message row (envelope, recipient addresses) goes once its lifetime (30 minutes here)
  // is also older than the retention period: none of its events can still be written.
  moveTo(31 * DAY + 31 * MINUTE);
  assert.equal((await retention()).messages, 1);
  assert.equal((await hk.api("GET", `/v1/messages/${sent[0]}`)).status, 404, "the finished message is gone");
  assert.equal((await hk.api("GET", `/v1/messages/${sent[1]}`)).status, 200, "an unfinished message stays");
  assert.equal(await count("recipients", `message_id = '${sent[0]}'`), 0);
  const month = new Date(start).toISOString().slice(0, 7);
  const usageAfter = await hk.api("GET", `/v1/usage?month=${month}`);
  assert.equal(usageAfter.body.messages_accepted, usageBefore.body.messages_accepted, "usage outlives the logs");
  assert.equal(usageAfter.body.delivered, 2);
});

test("the daily graphile-worker job runs the same rules", async () => {
  const old = new Date(now().getTime() - 32 * DAY);
  await insertDelivery(hk.service.db.sql, { accountId: hk.accountId, at: old });
  await insertDelivery(hk.service.db.sql, { accountId: hk.accountId });
  await hk.service.db.sql`select graphile_worker.add_job('log_retention', '{}'::json)`;
  await eventually(async () => (await count("delivery_events")) === 1, "the job to delete the old event", 10_000);
  const [cron] = await hk.service.db.sql`select count(*)::int as n from graphile_worker._private_known_crontabs where identifier = 'log_retention'`;
  assert.equal(cron?.n, 1, "the job is in the worker's crontab");
});
