// Cursor pagination under concurrent inserts. Writers hold their transactions open for
// random moments, so events commit out of id and time order; a client that syncs the
// log by reading from the top until it meets an event it already has must still end
// up with every event exactly once.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { deferred, startTestService, type TestService } from "./helpers/service.ts";
import { insertDelivery } from "./logs-fixtures.ts";

let hk: TestService;

before(async () => {
  hk = await startTestService();
});

after(async () => {
  await hk?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function page(cursor: string | null, filter = ""): Promise<{ ids: number[]; next: string | null }> {
  const r = await hk.api("GET", `/v1/logs?limit=4${filter}${cursor ? `&cursor=${cursor}` : ""}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { ids: r.body.data.map((e: { id: number }) => e.id), next: r.body.next_cursor };
}

/** Reads from the top until it meets a known event; returns what was new, in log order. */
async function sync(known: Set<number>, filter = ""): Promise<number[]> {
  const fresh: number[] = [];
  let cursor: string | null = null;
  for (;;) {
    const p = await page(cursor, filter);
    for (const id of p.ids) {
      if (known.has(id)) return fresh;
      assert.ok(!fresh.includes(id), `event ${id} twice in one walk`);
      fresh.push(id);
    }
    if (!p.next) return fresh;
    cursor = p.next;
  }
}

// With a time range the log is read day by day (select-by-day.ts): the same promise holds.
for (const [name, filter] of [
  ["", ""],
  [" (time range)", `&since=${new Date(Date.now() - 3_600_000).toISOString()}&until=${new Date(Date.now() + 3_600_000).toISOString()}`],
]) {
  test(`syncing from the top never skips or repeats an event while others commit out of order${name}`, async () => {
    const sql = hk.service.db.sql;
    const committed = new Set<number>();
    let writing = true;
    let walks = 0;
    // At least 30 transactions each, and on until the reader has synced 10 times while
    // they run (a loaded machine can slow the reader down more than the writers).
    const writer = async (w: number) => {
      for (let i = 0; i < 200 && (i < 30 || walks < 10); i++) {
        await sql
          .begin(async (tx) => {
            const id = await insertDelivery(tx as never, { accountId: hk.accountId, recipient: `w${w}-${i}@example.jp` });
            await sleep(Math.random() * 40);
            return id;
          })
          .then((id) => committed.add(id));
      }
    };
    const before = new Set((await hk.service.db.sql<{ id: number }[]>`select id from delivery_events`).map((r) => r.id));
    const writers = Promise.all([0, 1, 2, 3, 4].map(writer)).finally(() => {
      writing = false;
    });

    const collected: number[] = [];
    const known = new Set<number>(before);
    while (writing) {
      for (const id of await sync(known, filter)) {
        collected.push(id);
        known.add(id);
      }
      walks++;
    }
    await writers;
    for (const id of await sync(known, filter)) collected.push(id);

    assert.ok(walks >= 10, `the reader synced ${walks} times while writers ran`);
    assert.ok(committed.size >= 150, `${committed.size} events committed`);
    assert.equal(new Set(collected).size, collected.length, "no event was collected twice");
    assert.deepEqual(
      [...collected].sort((a, b) => a - b),
      [...committed].sort((a, b) => a - b),
      "every committed event was collected",
    );
  });
}

test("a full walk is in one stable order: later walks keep it and only add events above", async () => {
  const sql = hk.service.db.sql;
  const walk = async () => {
    const ids: number[] = [];
    let cursor: string | null = null;
    do {
      const p = await page(cursor);
      ids.push(...p.ids);
      cursor = p.next;
    } while (cursor);
    return ids;
  };
  // The slow transaction writes first and stays open until the first walk is done.
  const slowInserted = deferred();
  const firstWalkDone = deferred();
  const slow = sql.begin(async (tx) => {
    await insertDelivery(tx as never, { accountId: hk.accountId, recipient: "slow@example.jp" });
    slowInserted.resolve();
    await firstWalkDone.promise;
  });
  await slowInserted.promise;
  const quick = await insertDelivery(sql, { accountId: hk.accountId, recipient: "quick@example.jp" });
  const during = await walk();
  firstWalkDone.resolve();
  await slow;
  const afterwards = await walk();
  assert.ok(!during.includes(quick), "an event is held back while an older transaction is still open");
  assert.ok(afterwards.includes(quick));
  assert.equal(new Set(during).size, during.length);
  assert.deepEqual(afterwards.slice(afterwards.length - during.length), during, "the earlier walk is an unchanged tail of the later one");
  const top = await hk.api("GET", "/v1/logs?limit=2");
  assert.deepEqual(
    top.body.data.map((e: { recipient: string }) => e.recipient),
    ["quick@example.jp", "slow@example.jp"],
    "both appear once the slow transaction commits, in the order their transactions began",
  );
});
