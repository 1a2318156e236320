// The credits a parked high-priority message reserves at its budget (destination_grant,
// drizzle/0019 and 0022) lapse once their slot is well past: when that message was
// cancelled or expired instead of waking to take them, a later high-priority message
// must not use them to go past the budget's rate. Calls the function on the real database.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestService, type TestService } from "./helpers/service.ts";

let hk: TestService;
before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
});
after(async () => {
  await hk?.stop();
});

const T0 = Date.parse("2026-06-01T00:00:00Z");
const at = (s: number) => new Date(T0 + s * 1000);

async function grant(key: string, s: number, priority: number): Promise<{ granted: number; parkAt: Date | null }> {
  const [row] = await hk.service.db.sql<{ granted: number; parkAt: Date | null }[]>`
    select granted, park_at as "parkAt" from destination_grant(${key}, ${at(s)}, 1, 1, ${priority}::int, 1::float8, 0.2::float8)`;
  assert.ok(row);
  return row;
}

test("a credit reserved by a high-priority message that never came back lapses: a later one keeps to the rate", async () => {
  const key = "credits.test";
  assert.equal((await grant(key, 0, -10)).granted, 1, "the first goes at once (one a minute)");
  const parked = await grant(key, 1, -10);
  assert.equal(parked.granted, 0, "the second waits for the next minute's slot, reserved for it");
  assert.equal(parked.parkAt?.toISOString(), at(60).toISOString());
  // That message is cancelled and never asks again. Ten minutes later the budget is busy:
  assert.equal((await grant(key, 600, 0)).granted, 1, "a normal message takes this minute's slot");
  const later = await grant(key, 601, -10);
  assert.equal(later.granted, 0, "a high-priority message a second later waits for the next slot, not on the stale credit");
  const [state] = await hk.service.db.sql<{ highCredits: number }[]>`select high_credits as "highCredits" from destination_state where key = ${key}`;
  // The new message's own reservation only.
  assert.equal(state?.highCredits, 1);
});

test("a parked high-priority message that wakes on time still takes its reserved slot", async () => {
  const key = "credits-wake.test";
  assert.equal((await grant(key, 0, -10)).granted, 1);
  const parked = await grant(key, 1, -10);
  assert.equal(parked.granted, 0);
  // Bulk mail at the slot's time finds it taken; the parked high one wakes then and goes.
  assert.equal((await grant(key, 60, 10)).granted, 0);
  assert.equal((await grant(key, 61, -10)).granted, 1, "the reservation holds when the message comes back");
});
