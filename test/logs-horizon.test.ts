// Read your own writes: an event committed before a log read is on that read's first
// page, also while another database on the same PostgreSQL starts and ends transactions
// all the time (as the other tenants of a shared server do, and as the test suite's own
// databases do). The log's horizon leaves other databases' transactions out, but one
// that ends between the read's snapshot and its look at pg_stat_activity cannot be told
// apart from one of ours; the read must then look again rather than cut the page low.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import postgres from "postgres";
import { startTestService, type TestService, testDatabase } from "./helpers/service.ts";

let hk: TestService;
let neighbour: Awaited<ReturnType<typeof testDatabase>>;

before(async () => {
  // The API alone: the worker's own transactions in this database would rightly hold the
  // horizon back while they run; the claim here is about the other database's.
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
  neighbour = await testDatabase();
});

after(async () => {
  await hk?.stop();
  await neighbour?.drop();
});

/** Transactions in the other database, each holding an xid for 0–8 ms, until stopped. */
function churn(url: string, sessions: number): { warm(): Promise<void>; stop(): Promise<number> } {
  const sql = postgres(url, { max: sessions, onnotice: () => {} });
  let running = true;
  let count = 0;
  const loops = Array.from({ length: sessions }, async () => {
    while (running) {
      await sql.begin(async (tx) => {
        await tx`select pg_current_xact_id()`;
        await tx`select pg_sleep(${Math.random() * 0.008})`;
      });
      count++;
    }
  });
  return {
    async warm() {
      while (count < sessions * 5) await new Promise((r) => setTimeout(r, 10));
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      await sql.end();
      return count;
    },
  };
}

test("an event committed just before a read is on its first page while another database churns", async () => {
  const sql = hk.service.db.sql;
  const load = churn(neighbour.url, 6);
  const missed: string[] = [];
  const reads = 400;
  let transactions = 0;
  try {
    await load.warm();
    for (let i = 0; i < reads; i++) {
      const [row] = await sql<{ id: string }[]>`
        insert into delivery_events (account_id, created_at, event, message_id, recipient, envelope_sender, source_ip, channel,
          attempt, code, response, code_source)
        values (${hk.accountId}, now(), 'delivered', gen_random_uuid(), ${`r${i}@example.jp`}, 'shop@shop.test', '192.0.2.1', 'http',
          1, 250, '250 ok', 'destination')
        returning id::text`;
      // Both paths of a first page: with a time range (a read-only transaction) and without.
      const q = i % 2 === 0 ? `since=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&limit=3` : "limit=3";
      const r = await hk.api("GET", `/v1/logs?${q}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      if (!r.body.data.some((e: { id: number }) => String(e.id) === row?.id)) missed.push(`read ${i} (${q.split("&")[0]})`);
    }
  } finally {
    transactions = await load.stop();
  }
  assert.ok(transactions > 100, `the other database ran transactions meanwhile (${transactions})`);
  assert.deepEqual(missed, [], `${missed.length} of ${reads} reads missed the event committed just before them`);
});
