// No lost DSN: a worker killed with SIGKILL right after a bounce is committed, and one
// killed right after the DSN itself is committed, each end with exactly one DSN at the
// envelope sender. The test holds the worker at each of those two points with a real
// lock (the database makes it wait there), then kills it.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, test } from "node:test";
import postgres from "postgres";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { spawnWorker } from "./helpers/hikyaku-process.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

let dns: TestDns;
let sink: Sink;
let hk: TestService;
let locker: postgres.Sql;
const children: ChildProcess[] = [];
let live: ChildProcess;

before(async () => {
  sink = await startSink({
    host: "127.0.0.2",
    starttls: false,
    onRcpt: (rcpt) => (rcpt.startsWith("nobody@") ? { code: 550, message: "5.1.1 no such user" } : undefined),
  });
  dns = await startDns({
    "ok.test": { MX: [{ exchange: "mx.ok.test", priority: 10 }] },
    "shop.test": { MX: [{ exchange: "mx.ok.test", priority: 10 }] },
    "mx.ok.test": { A: ["127.0.0.2"] },
  });
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
  locker = postgres(hk.service.databaseUrl, { max: 4, onnotice: () => {} });
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await locker?.end();
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

function worker(): ChildProcess {
  const { child } = spawnWorker(hk.service.databaseUrl, { HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port) });
  children.push(child);
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}

/** A statement of the service waiting for a lock, whose text matches `pattern`. */
async function waitingOn(pattern: string): Promise<boolean> {
  const rows = await locker`
    select 1 from pg_stat_activity where wait_event_type = 'Lock' and application_name = 'hikyaku' and query ilike ${pattern}`;
  return rows.length > 0;
}

const dsnsTo = (sender: string) => sink.messages.filter((m) => m.envelope.from === "" && m.envelope.to.includes(sender));

async function bounce(sender: string): Promise<string> {
  const r = await hk.api("POST", "/v1/messages", { from: sender, to: "nobody@ok.test", subject: "Notice", text: "x" });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  return r.body.id;
}

async function exactlyOneDsn(sender: string, messageId: string): Promise<void> {
  await eventually(async () => dsnsTo(sender).length >= 1, "the DSN at the envelope sender", 60_000);
  // Time for a duplicate to show up, if one were coming: the sweep and a restart both ran.
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal(dsnsTo(sender).length, 1, "exactly one DSN reached the sender");
  assert.match(dsnsTo(sender)[0]?.raw.toString("latin1") ?? "", new RegExp(`X-Hikyaku-Message-Id: ${messageId}`));
  const [stored] = await hk.service.db.sql<{ n: number }[]>`
    select count(*)::int as n from messages where channel = 'dsn' and envelope_from = '' and id in (
      select message_id from recipients where address = ${sender})`;
  assert.equal(stored?.n, 1, "exactly one DSN was accepted");
  const [left] = await hk.service.db.sql<{ n: number }[]>`select count(*)::int as n from dsn_intents where message_id = ${messageId}`;
  assert.equal(left?.n, 0, "the intent is gone");
}

test("killed between the bounce's commit and the DSN's accept: the next worker sends the one DSN", async () => {
  const sender = "first@shop.test";
  // Holding idempotency_keys makes the DSN's accept wait, after the bounce is committed.
  const hold = await locker.reserve();
  await hold`begin`;
  await hold`lock table idempotency_keys in exclusive mode`;
  const first = worker();
  const id = await bounce(sender);
  await eventually(
    async () => (await waitingOn("%idempotency_keys%")) && (await hk.service.db.sql`select 1 from dsn_intents where message_id = ${id}`).length > 0,
    "the worker waiting to accept the DSN",
    60_000,
  );
  const [event] = await hk.service.db.sql`select event from delivery_events where message_id = ${id}`;
  assert.equal(event?.event, "bounced", "the bounce is committed");
  await kill(first);
  await hold`commit`;
  hold.release();
  assert.equal(dsnsTo(sender).length, 0);
  live = worker();
  await exactlyOneDsn(sender, id);
});

test("killed after the DSN's commit, before its intent is deleted: no second DSN", async () => {
  // The worker that finished the first test is the one held and killed here.
  const sender = "second@shop.test";
  const table = await locker.reserve();
  await table`begin`;
  await table`lock table idempotency_keys in exclusive mode`;
  const first = live;
  const id = await bounce(sender);
  await eventually(async () => waitingOn("%idempotency_keys%"), "the worker waiting to accept the DSN", 60_000);
  // Now hold the intent's row too, then let the accept through: the delete after it waits.
  const row = await locker.reserve();
  await row`begin`;
  const locked = await row`select id from dsn_intents where message_id = ${id} for update`;
  assert.equal(locked.length, 1);
  await table`commit`;
  table.release();
  await eventually(async () => waitingOn("%delete from dsn_intents%"), "the worker waiting to delete the intent", 60_000);
  await kill(first);
  await row`commit`;
  row.release();
  const [accepted] = await hk.service.db.sql<{ n: number }[]>`select count(*)::int as n from messages where channel = 'dsn'`;
  assert.equal(accepted?.n, 2, "this DSN was committed before the kill (beside the first test's)");
  worker();
  await exactlyOneDsn(sender, id);
});
