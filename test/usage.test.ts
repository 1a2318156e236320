// GET /v1/usage and the operator's PATCH /v1/admin/accounts/{id}: counts from the
// durable counters, quota and overage, months in the account's time zone, isolation.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { advanceClock, now, resetClock } from "../src/clock.ts";
import { eventually, type MxWorld, startWithMx, type TestService } from "./helpers/service.ts";

let world: MxWorld;
let hk: TestService;
const ADMIN = { authorization: "Bearer test-admin-token-0123456789" };

before(async () => {
  world = await startWithMx({ onRcpt: (rcpt) => (rcpt.startsWith("unknown@") ? { code: 550, message: "5.1.1 user unknown" } : undefined) });
  ({ hk } = world);
});

after(async () => {
  resetClock();
  await world?.stop();
});

async function send(key: string, to: string | string[]) {
  const r = await hk.api("POST", "/v1/messages", { from: "shop@shop.test", to, subject: "s", text: "t" }, { authorization: `Bearer ${key}` });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id as string;
}

async function settled(key: string, ids: string[]) {
  for (const id of ids) {
    await eventually(async () => {
      const r = await hk.api("GET", `/v1/messages/${id}`, undefined, { authorization: `Bearer ${key}` });
      return r.body.recipients?.every((x: { state: string }) => ["delivered", "bounced"].includes(x.state));
    }, `message ${id} to be final`);
  }
}

async function usage(key: string, month?: string) {
  const r = await hk.api("GET", `/v1/usage${month ? `?month=${month}` : ""}`, undefined, { authorization: `Bearer ${key}` });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

const patch = (id: string, body: unknown) => hk.api("PATCH", `/v1/admin/accounts/${id}`, body, ADMIN);

describe("usage", () => {
  test("a new account has used nothing this month and has no quota", async () => {
    const u = await usage(hk.key);
    assert.deepEqual(u, {
      month: now().toISOString().slice(0, 7),
      time_zone: "UTC",
      messages_accepted: 0,
      recipients_accepted: 0,
      delivered: 0,
      bounced: 0,
      expired: 0,
      monthly_quota: null,
      overage: 0,
      overage_price_jpy: 0.15,
      overage_charge_jpy: 0,
    });
  });

  test("counts messages, recipients and outcomes; overage against the operator's quota", async () => {
    const ids = [await send(hk.key, "a@ok.test"), await send(hk.key, ["b@ok.test", "unknown@ok.test"]), await send(hk.key, "c@ok.test")];
    await settled(hk.key, ids);
    const u = await usage(hk.key);
    assert.equal(u.messages_accepted, 3);
    assert.equal(u.recipients_accepted, 4);
    assert.equal(u.delivered, 3);
    assert.equal(u.bounced, 1);
    assert.equal(u.overage, 0);

    const set = await patch(hk.accountId, { monthly_quota: 1 });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body, { id: hk.accountId, name: "test", monthly_quota: 1, time_zone: "UTC", suppression_list: false, api_rate_limit: null });
    const over = await usage(hk.key);
    assert.equal(over.monthly_quota, 1);
    assert.equal(over.overage, 2);
    assert.equal(over.overage_charge_jpy, 0.3);

    assert.equal((await patch(hk.accountId, { monthly_quota: null })).body.monthly_quota, null);
    assert.equal((await usage(hk.key)).overage, 0, "null is unlimited");
  });

  test("another account's usage counts none of this one's messages", async () => {
    const other = await hk.newAccount();
    const u = await usage(other.key);
    assert.equal(u.messages_accepted, 0);
    assert.equal(u.delivered, 0);
    const mine = await usage(hk.key);
    assert.equal(mine.messages_accepted, 3);
  });

  test("bad input is refused with the field named", async () => {
    for (const month of ["2026-13", "2026-1", "november", "2026-11-01"]) {
      const r = await hk.api("GET", `/v1/usage?month=${month}`);
      assert.equal(r.status, 422, month);
      assert.equal(r.body.error.field, "month");
    }
    const tz = await patch(hk.accountId, { time_zone: "Mars/Olympus_Mons" });
    assert.equal(tz.status, 422);
    assert.equal(tz.body.error.field, "time_zone");
    assert.equal((await patch(hk.accountId, { monthly_quota: -1 })).body.error.field, "monthly_quota");
    assert.equal((await patch(hk.accountId, { plan: "gold" })).body.error.field, "plan");
    assert.equal((await patch("0190a1b2-0000-7000-8000-000000000000", { monthly_quota: 5 })).status, 404);
    assert.equal((await patch("nope", { monthly_quota: 5 })).status, 404);
    const notAdmin = await hk.api("PATCH", `/v1/admin/accounts/${hk.accountId}`, { monthly_quota: 5 });
    assert.equal(notAdmin.status, 401, "an API key is not the operator token");
  });

  test("a month ends at midnight in the account's time zone (clock moved across the boundary)", async () => {
    const tokyo = await hk.newAccount("tokyo");
    const utc = await hk.newAccount("utc");
    assert.equal((await patch(tokyo.accountId, { time_zone: "Asia/Tokyo" })).body.time_zone, "Asia/Tokyo");
    const t = now();
    // The first midnight UTC at the start of a month, at least a day ahead.
    const next = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() + (t.getUTCDate() >= 28 ? 2 : 1), 1));
    const monthOf = (d: Date) => d.toISOString().slice(0, 7);
    const last = monthOf(new Date(next.getTime() - 86_400_000));
    const first = monthOf(next);
    const tokyoMidnight = next.getTime() - 9 * 3_600_000; // 00:00 JST is 15:00 UTC the day before
    const moveTo = (ms: number) => advanceClock(ms - now().getTime());

    // Each message is delivered before the clock moves on, so none outlives its lifetime.
    const sendAt = async (ms: number, account: { key: string }, to: string) => {
      moveTo(ms);
      await settled(account.key, [await send(account.key, to)]);
    };
    await sendAt(tokyoMidnight - 60_000, tokyo, "t1@ok.test");
    await sendAt(tokyoMidnight - 60_000, utc, "u1@ok.test");
    await sendAt(tokyoMidnight + 60_000, tokyo, "t2@ok.test");
    await sendAt(next.getTime() - 60_000, utc, "u2@ok.test");
    await sendAt(next.getTime() + 60_000, utc, "u3@ok.test");

    assert.equal((await usage(tokyo.key, last)).messages_accepted, 1);
    assert.equal((await usage(tokyo.key, first)).messages_accepted, 1);
    assert.equal((await usage(tokyo.key)).month, first, "the current month, in Tokyo");
    assert.equal((await usage(utc.key, last)).messages_accepted, 2);
    assert.equal((await usage(utc.key, first)).messages_accepted, 1);
    assert.equal((await usage(utc.key, first)).delivered, 1);
  });
});
