// A worker killed with SIGKILL in the middle of a delivery strands nothing: another
// worker unlocks the dead one's jobs (heartbeats) and delivers. The one duplicate that
// can happen is this one: the destination already had the whole message when the
// worker died, before the outcome was committed; the log still shows one delivery.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, test } from "node:test";
import { dispatchOnce } from "../src/worker/dispatcher.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { spawnWorker } from "./helpers/hikyaku-process.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

let dns: TestDns;
let sink: Sink;
let hk: TestService;
const children: ChildProcess[] = [];

before(async () => {
  sink = await startSink({ host: "127.0.0.2", starttls: false, dataDelayMs: 4000 });
  dns = await startDns({ "ok.test": { MX: [{ exchange: "mx.ok.test", priority: 10 }] }, "mx.ok.test": { A: ["127.0.0.2"] } });
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

function worker(): ChildProcess {
  const { child } = spawnWorker(hk.service.databaseUrl, { HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port), HIKYAKU_SMTP_TIMEOUT: "10" });
  children.push(child);
  return child;
}

/** The message's log events, once one of them is `delivered` (within a minute). */
function loggedDelivery(messageId: string, what: string): Promise<any[]> {
  return eventually(
    async () => {
      const got = (await hk.api("GET", `/v1/logs?message_id=${messageId}`)).body.data as any[];
      return got.some((e) => e.event === "delivered") ? got : undefined;
    },
    what,
    60_000,
  );
}

// First, while no worker runs: the job is planted as one a pool locked and died with
// before its first heartbeat (a runner started again after a PostgreSQL restart and
// stopped by the next restart within seconds). No heartbeat row names that pool.
test("a job locked by a worker pool that died before its first heartbeat is unlocked and delivered", async () => {
  const r = await hk.api("POST", "/v1/messages", { from: "city@shop.test", to: "early@ok.test", subject: "Evacuate", text: "Now" });
  assert.equal(r.status, 202);
  await eventually(async () => (await dispatchOnce(hk.service.db, { jobBatch: 1 })) > 0, "the message moved into a job", 10_000);
  const locked = await hk.service.db.sql`
    update graphile_worker._private_jobs set locked_by = 'pool-that-never-beat', locked_at = now() - interval '1 minute'
    where locked_by is null returning id`;
  assert.equal(locked.length, 1);
  const rescuer = worker();
  const evs = await loggedDelivery(r.body.id, "delivery once the orphaned job is unlocked (graphile-worker alone waits four hours)");
  assert.equal(evs.filter((e) => e.event === "delivered").length, 1);
  rescuer.kill("SIGTERM");
  await new Promise((res) => rescuer.once("exit", res));
});

test("a worker killed with SIGKILL mid-delivery is replaced and the message is delivered once in the log", async () => {
  const first = worker();
  const r = await hk.api("POST", "/v1/messages", { from: "city@shop.test", to: "resident@ok.test", subject: "Evacuate", text: "Now" });
  assert.equal(r.status, 202);
  await eventually(
    async () => {
      const [row] = await hk.service.db.sql`select state from recipients where message_id = ${r.body.id}`;
      return row?.state === "sending" && sink.connections > 0;
    },
    "the first worker to be mid-delivery",
    20_000,
  );
  await new Promise((res) => setTimeout(res, 300)); // let DATA start
  first.kill("SIGKILL");
  await new Promise((res) => first.once("exit", res));
  const killedAt = Date.now();
  worker();
  const evs = await loggedDelivery(r.body.id, "delivery by the second worker");
  assert.ok(Date.now() - killedAt < 60_000, "recovered well inside two minutes");
  assert.equal(evs.filter((e) => e.event === "delivered").length, 1, "one delivered event");
  assert.equal(evs.find((e) => e.event === "delivered").attempt, 2);
  // The sink holds one copy, or two when the first worker died after the final dot.
  const copies = sink.messages.filter((m) => m.envelope.to.includes("resident@ok.test")).length;
  assert.ok(copies >= 1 && copies <= 2, `sink got ${copies}`);
});
