// HIKYAKU_WORKER_PROCESSES: one `hikyaku start` whose worker role runs in a child process.
// Mail through both doors is delivered by the child; the parent's /metrics has the
// child's counters; a killed child is replaced; SIGTERM stops both, cleanly, even when the
// child is signalled too or still starts; and a child whose parent was killed (SIGKILL)
// stops by itself.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import nodemailer from "nodemailer";
import { createAccount } from "../src/accounts/accounts.ts";
import { connect, type Db } from "../src/db/client.ts";
import { type Running, spawnHikyaku, stopHikyaku } from "./helpers/hikyaku-process.ts";
import { eventually, testDatabase } from "./helpers/service.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";

const METRICS_TOKEN = "worker-processes-metrics-0123";
let database: Awaited<ReturnType<typeof testDatabase>>;
let db: Db;
let sink: Sink;
let key: string;
let env: Record<string, string>;
const started: Running[] = [];
/** Worker children seen, killed at the end in case one outlived its parent. */
const children: number[] = [];

before(async () => {
  database = await testDatabase();
  db = connect(database.url, { max: 2 });
  sink = await startSink({ host: "127.0.0.2", port: await freePort("127.0.0.2"), starttls: false });
  const made = await createAccount(db, "children");
  key = made.key.key;
  await db.sql`insert into source_ips (ip, account_id) values ('127.0.0.1', ${made.account.id})`;
  env = {
    DATABASE_URL: database.url,
    HIKYAKU_WORKER_PROCESSES: "1",
    HIKYAKU_ROUTES: `*=127.0.0.2:${sink.port}`,
    HIKYAKU_HOSTNAME: "hikyaku.test",
    HIKYAKU_LOG_LEVEL: "error",
    HIKYAKU_METRICS_TOKEN: METRICS_TOKEN,
    HIKYAKU_HEARTBEAT_SECONDS: "1",
    HIKYAKU_SECRET_KEY: "worker-processes-secret-0123456789abcdef",
  };
});

after(async () => {
  for (const r of started) await stopHikyaku(r, "SIGKILL");
  for (const pid of children) if (running(pid)) process.kill(pid, "SIGKILL");
  await sink?.close();
  await db?.close();
  await database?.drop();
});

/** `hikyaku start` on fresh ports; resolves once it printed its banner, with its base URL, relay port and the child's pid. */
async function startOne(): Promise<{ r: Running; base: string; relay: number; child: number }> {
  const http = await freePort();
  const relay = await freePort();
  const r = spawnHikyaku(["start"], {
    ...env,
    HIKYAKU_HTTP_PORT: String(http),
    HIKYAKU_SMTP_RELAY_PORT: String(relay),
    HIKYAKU_SMTP_SUBMISSION_PORT: "0",
    HIKYAKU_SMTPS_PORT: "0",
  });
  started.push(r);
  const m = await r.waitFor(/Delivery in 1 worker process \(pid (\d+)\)/, 120_000);
  return { r, base: `http://127.0.0.1:${http}`, relay, child: Number(m[1]) };
}

async function post(base: string, subject: string): Promise<void> {
  const res = await fetch(`${base}/v1/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ from: "shop@shop.test", to: "someone@dest.test", subject, text: "hello" }),
  });
  assert.equal(res.status, 202, await res.text());
}

/** The HIKYAKU_ROLES a process was started with. */
function rolesOf(pid: number): string | undefined {
  const environ = readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
  return environ.find((e) => e.startsWith("HIKYAKU_ROLES="))?.slice("HIKYAKU_ROLES=".length);
}

test("the worker runs in a child: it delivers both doors' mail, its counters are in the parent's /metrics, and a killed one is replaced; SIGTERM stops both with 0", async () => {
  const { r, base, relay, child } = await startOne();
  children.push(child);
  assert.equal(rolesOf(child), "worker");
  assert.equal(rolesOf(r.child.pid as number), undefined, "the parent runs the other roles");

  const before = sink.messages.length;
  await post(base, "through the API");
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: relay, secure: false, ignoreTLS: true });
  await transport.sendMail({ from: "shop@shop.test", to: "someone@dest.test", subject: "through the relay", text: "hello" });
  transport.close();
  await sink.waitFor(before + 2, 60_000);

  // Delivered by the child, counted in the parent's /metrics (the parent itself delivers nothing).
  const scrape = async () => (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const delivered = (text: string) =>
    [...text.matchAll(/^hikyaku_deliveries_total\{result="delivered",[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
  const text = await eventually(async () => {
    const t = await scrape();
    return delivered(t) >= 2 && /^hikyaku_delivery_attempt_duration_seconds_count [1-9]\d*$/m.test(t) ? t : undefined;
  }, "the child's deliveries and attempt histogram in the parent's /metrics");
  assert.match(text, /^hikyaku_intake_messages_total\{door="http",result="accepted"\} 1$/m, "the parent's own counters are there too");
  const types = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
  assert.equal(types.length, new Set(types).size, "each family once: the two processes' series are merged, not listed twice");
  const deliveredBefore = delivered(text);

  // A killed child is replaced, and the new one delivers.
  process.kill(child, "SIGKILL");
  await eventually(async () => otherChild(r.child.pid as number, child), "another worker process", 60_000);
  await post(base, "after the child was killed");
  await sink.waitFor(before + 3, 60_000);
  // The dead child's counts stay in the sum: a counter never goes back.
  await eventually(async () => delivered(await scrape()) >= deliveredBefore + 1, "the new child's delivery added to the old one's");

  const next = otherChild(r.child.pid as number, child) as number;
  children.push(next);
  assert.equal(await stopHikyaku(r), 0, r.err().slice(-2000));
  assert.equal(running(next), false, "the child stopped with the parent");
});

test("a child whose parent was killed stops by itself", async () => {
  const before = new Set(await pools());
  const { r, child } = await startOne();
  children.push(child);
  // Once the child runs (its job runner beats), not while it still starts.
  await eventually(async () => (await pools()).some((p) => !before.has(p)), "the child's heartbeat", 60_000);
  await stopHikyaku(r, "SIGKILL");
  await eventually(async () => !running(child), "the orphaned worker process gone", 30_000);
});

test("SIGTERM to parent and child at once (a supervisor's kill of the group): the child's stop is not cut short; both exit cleanly", async () => {
  const before = new Set(await pools());
  const { r, child } = await startOne();
  children.push(child);
  const pool = await eventually(async () => (await pools()).find((p) => !before.has(p)), "the child's heartbeat", 60_000);
  // The child's own SIGTERM starts its stop; the parent's SIGTERM to it comes a moment later.
  process.kill(child, "SIGTERM");
  assert.equal(await stopHikyaku(r), 0, `a second signal killed the stopping child\n${r.err().slice(-2000)}`);
  assert.equal(running(child), false);
  // The last step of a worker's clean stop: its heartbeat row goes (a killed one's stays).
  assert.equal((await pools()).includes(pool), false, "the child finished its stop");
});

test("a stop right after the banner, while the child still starts, is a clean one", async () => {
  const { r, child } = await startOne();
  children.push(child);
  assert.equal(await stopHikyaku(r, "SIGINT"), 0, r.err().slice(-2000));
  assert.equal(running(child), false);
});

/** The job runners that beat now (each worker process's pool id). */
async function pools(): Promise<string[]> {
  return (await db.sql<{ poolId: string }[]>`select pool_id as "poolId" from worker_heartbeats`).map((p) => p.poolId);
}

/** A worker child of `parent` other than `old`, if one runs. */
function otherChild(parent: number, old: number): number | undefined {
  const children = readFileSync(`/proc/${parent}/task/${parent}/children`, "latin1").trim().split(/\s+/).filter(Boolean).map(Number);
  return children.find((pid) => pid !== old && running(pid) && rolesOf(pid) === "worker");
}

/** True while `pid` runs (a zombie, exited but not yet reaped, does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
