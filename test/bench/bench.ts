// `npm run bench`: delivered/s through every door, Hikyaku beside Postfix in the same run.
//
// On loopback, 1 KB messages with one recipient, every message counted at one sink
// (Postfix's smtp-sink on 127.0.0.2). For each of --runs runs, in alternating order:
//   Hikyaku all-in-one (one process, HIKYAKU_WORKER_PROCESSES=0), two-process (one
//   `hikyaku start` whose worker runs in a child: `npm start` on two cores), then api +
//   smtp + 2 worker processes on the same database, each through the HTTP door (50 concurrent POSTs),
//   the SMTP relay door with 20 reused connections, and with one connection per
//   message (20 at once, as PHP mail()-style clients send);
//   a private Postfix 3.7 instance (temp config/queue/data dirs, relayhost = the sink)
//   with the same two SMTP clients.
// Delivered/s runs from the first request to the moment the sink counted the last
// message. Prints each run, then a table of medians (with the spread) and the ratio
// Hikyaku/Postfix, and CPU milliseconds per message of each process.
//
//   npm run bench                       # 3 runs of 10,000 messages per door and mode
//   npm run bench -- --quick            # 1 run of 2,000: for trying things
//   npm run bench -- --messages 20000 --runs 5 --topologies split --doors http --no-postfix
//   npm run bench -- --topologies all-in-one,two-process   # only these two
//   npm run bench -- --scheduled 100000 # with 100,000 messages scheduled for tomorrow waiting in the outbox
//   npm run bench -- --webhook          # a webhook receiver subscribed to every delivered event: its latency per phase
//   BENCH_PROFILE=/tmp/prof npm run bench -- --quick   # V8 CPU profiles of each Hikyaku process
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createAccount } from "../../src/accounts/accounts.ts";
import { connect, type Db } from "../../src/db/client.ts";
import { startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import { freePort } from "../helpers/sink.ts";
import { type Ports, type Running, startHikyaku, type Topology } from "./hikyaku-procs.ts";
import { postMessages } from "./http-load.ts";
import { type PostfixInstance, startPostfix } from "./postfix.ts";
import { cpuOf, cpuOfSelf, cpuOfTree, machineCpu, machineUse } from "./proc-cpu.ts";
import { type Door, type PhaseResult, printRun, printSummary } from "./report.ts";
import { benchSmtpIntake } from "./smtp-intake.ts";
import { type SmtpSink, startSmtpSink } from "./smtp-sink.ts";
import { startWebhookReceiver, type WebhookReceiver } from "./webhook-receiver.ts";

const { values: args } = parseArgs({
  options: {
    messages: { type: "string" },
    runs: { type: "string" },
    quick: { type: "boolean", default: false },
    concurrency: { type: "string", default: "50" },
    connections: { type: "string", default: "20" },
    workers: { type: "string", default: "2" },
    topologies: { type: "string", default: "all-in-one,two-process,split" },
    doors: { type: "string", default: "http,smtp-reuse,smtp-per-message" },
    "no-postfix": { type: "boolean", default: false },
    "postfix-log": { type: "boolean", default: false },
    warmup: { type: "string", default: "4000" },
    scheduled: { type: "string", default: "0" },
    webhook: { type: "boolean", default: false },
  },
});
const N = Number(args.messages ?? (args.quick ? 2000 : 10000));
const RUNS = Number(args.runs ?? (args.quick ? 1 : 3));
const TOPOLOGIES = (args.topologies ?? "").split(",").filter(Boolean) as Topology[];
const DOORS = (args.doors ?? "").split(",").filter(Boolean) as Door[];
const SINK_HOST = "127.0.0.2";
/** A phase that has not delivered everything after this long is reported as timed out. */
const phaseLimitMs = () => 60_000 + N * 10;

let cleanups: (() => Promise<void>)[] = [];
async function cleanUp() {
  const list = cleanups.reverse();
  cleanups = [];
  for (const c of list) await c().catch((err) => console.error("cleanup:", err));
}
for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void cleanUp().then(() => process.exit(130)));

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-bench-"));
  chmodSync(dir, 0o755);
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbedded(path.join(dir, "hikyaku"), await freePort(), "bench");
  if (embedded) cleanups.push(() => embedded.stop());
  const url = process.env.DATABASE_URL ?? embedded?.url ?? "";
  const db = connect(url, { max: 2 });
  cleanups.push(() => db.close());
  await migrate(db, url);
  const sink = await startSmtpSink(SINK_HOST, await freePort(SINK_HOST));
  cleanups.push(() => sink.stop());
  const postfix = args["no-postfix"]
    ? undefined
    : await startPostfix(path.join(dir, "postfix"), await freePort(), SINK_HOST, sink.port, { log: args["postfix-log"] });
  if (postfix) cleanups.push(() => postfix.stop());
  const pgPid = embedded ? postmasterPid(embedded.clusterDir) : undefined;
  const ports: Ports = { http: await freePort(), relay: await freePort(), submission: await freePort(), smtps: await freePort() };
  const env = {
    ...process.env,
    DATABASE_URL: url,
    HIKYAKU_DATA_DIR: path.join(dir, "hikyaku"),
    HIKYAKU_ROUTES: `*=${SINK_HOST}:${sink.port}`,
    HIKYAKU_LOG_LEVEL: "warn",
    HIKYAKU_HOSTNAME: "bench.hikyaku.test",
    // One account sends everything, far faster than the default limits for one client allow.
    HIKYAKU_API_RATE_LIMIT: "100000000",
    HIKYAKU_SMTP_MAX_CONNECTIONS_PER_IP: "1000",
    // The webhook receiver listens on loopback.
    ...(args.webhook ? { HIKYAKU_ALLOW_PRIVATE_DESTINATIONS: "true" } : {}),
  };
  console.error(`bench: ${RUNS} run(s) of ${N} messages per door; sink smtp-sink on ${SINK_HOST}:${sink.port}; ${os.cpus().length} cores`);
  const results: PhaseResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    // Alternate the order, so neither side always runs on a warmer or quieter machine.
    const order = run % 2 === 1 ? TOPOLOGIES : [...TOPOLOGIES].reverse();
    const blocks: (Topology | "postfix")[] = postfix ? [order[0] as Topology, "postfix", ...order.slice(1)] : order;
    for (const block of blocks) {
      const phases =
        block === "postfix" ? await postfixBlock(postfix as PostfixInstance, sink, pgPid, run) : await hikyakuBlock(block, db, env, ports, sink, pgPid, run);
      results.push(...phases);
      printRun(phases);
    }
  }
  printSummary(results, { messages: N, runs: RUNS, concurrency: Number(args.concurrency), connections: Number(args.connections) });
}

async function hikyakuBlock(topology: Topology, db: Db, env: NodeJS.ProcessEnv, ports: Ports, sink: SmtpSink, pgPid: number | undefined, run: number) {
  // Every block starts on empty tables, so the last run does not measure a fuller database.
  await db.sql`truncate messages, delivery_queue, delivery_events, delivery_event_tags, reception_events, usage_counters, idempotency_keys, source_ips, accounts cascade`;
  await db.sql`delete from graphile_worker._private_jobs`;
  const { account, key } = await createAccount(db, "bench");
  await db.sql`insert into source_ips (ip, account_id) values ('127.0.0.1', ${account.id})`;
  if (Number(args.scheduled) > 0) await seedScheduled(db, Number(args.scheduled));
  const hk = await startHikyaku(topology, env, ports, Number(args.workers));
  const stop = () => hk.stop();
  cleanups.push(stop);
  const out: PhaseResult[] = [];
  let hooks: WebhookReceiver | undefined;
  try {
    hooks = args.webhook ? await startWebhookReceiver(hk.base, key.key) : undefined;
    const warm = Number(args.warmup);
    if (warm > 0) {
      // Untimed: the runs measure warm JIT, connections and caches, not a process's first
      // seconds. 500 were too few: the first 2,000 messages of the HTTP phase after them
      // ran at p99 95 ms against about 50 after, and the phase at 1,333-1,381/s against
      // 1,623-1,680 after 4,000; with the tables emptied after 4,000 it stayed at
      // 1,470-1,474/s, p99 58-61 ms, so it is the processes that warm, not the tables.
      await send(hk, key.key, "http", warm, sink);
      await send(hk, key.key, "smtp-per-message", Math.ceil(warm / 5), sink);
      await waitSettled(db);
    }
    for (const door of DOORS) {
      const cpu = () => cpuSnapshot(hk, pgPid, sink);
      const hooked = hooks?.count() ?? 0;
      const since = new Date();
      const r = await measure(`Hikyaku ${topology}`, door, run, sink, cpu, () => send(hk, key.key, door, N, sink));
      await waitSettled(db);
      // A slow phase says why: every deferral it logged, by reason (a park, a 421 from the sink).
      const deferrals = await db.sql<{ reason: string; n: number }[]>`
        select coalesce(enhanced_code, '') || ' ' || left(coalesce(response, ''), 60) as reason, count(*)::int as n
        from delivery_events where event = 'deferred' and created_at >= ${since} group by 1 order by 2 desc limit 5`;
      if (deferrals.length > 0)
        console.error(`bench: deferrals in Hikyaku ${topology} ${door} run ${run}: ${deferrals.map((d) => `${d.n}× ${d.reason}`).join("; ")}`);
      if (hooks && !(await hooks.waitFor(hooked + r.accepted))) console.error(`bench: only ${hooks.count() - hooked} of ${r.accepted} webhooks arrived`);
      out.push(hooks ? { ...r, webhooks: hooks.since(hooked) } : r);
    }
  } finally {
    hooks?.close();
    await stop();
    cleanups = cleanups.filter((c) => c !== stop);
  }
  return out;
}

async function postfixBlock(postfix: PostfixInstance, sink: SmtpSink, pgPid: number | undefined, run: number) {
  const out: PhaseResult[] = [];
  const target = { host: "127.0.0.1", port: postfix.port };
  const cpu = () => ({
    postfix: cpuOfTree(postfix.masterPid()),
    sink: cpuOf(sink.pid),
    bench: cpuOfSelf(),
    ...(pgPid ? { postgres_idle: cpuOfTree(pgPid) } : {}),
  });
  // Warm: smtpd, cleanup and smtp processes exist and the connection cache is primed.
  await smtp(target, "smtp-per-message", Math.ceil(Number(args.warmup) / 5), sink);
  for (const door of DOORS.filter((d) => d !== "http")) out.push(await measure("Postfix 3.7", door, run, sink, cpu, () => smtp(target, door, N, sink)));
  return out;
}

interface Sent {
  accepted: number;
  failed: number;
  firstFailure?: string;
  latencies?: number[];
}

async function send(hk: Running, key: string, door: Door, n: number, sink: SmtpSink): Promise<Sent> {
  if (door === "http") {
    const r = await postMessages(`${hk.base}/v1/messages`, key, n, Number(args.concurrency));
    return { accepted: r.accepted, failed: r.failed, latencies: r.latencies, ...(r.firstFailure ? { firstFailure: r.firstFailure } : {}) };
  }
  return smtp({ host: "127.0.0.1", port: hk.relayPort }, door, n, sink);
}

async function smtp(target: { host: string; port: number }, door: Door, n: number, _sink: SmtpSink): Promise<Sent> {
  const r = await benchSmtpIntake({ ...target, count: n, connections: Number(args.connections), mode: door === "smtp-reuse" ? "reuse" : "per-message" });
  return { accepted: r.accepted, failed: r.refused, ...(r.firstRefusal ? { firstFailure: r.firstRefusal } : {}) };
}

async function measure(
  system: string,
  door: Door,
  run: number,
  sink: SmtpSink,
  cpu: () => Record<string, number>,
  go: () => Promise<Sent>,
): Promise<PhaseResult> {
  const before = sink.count();
  const cpu0 = cpu();
  const machine0 = machineCpu();
  const t0 = performance.now();
  const sent = await go();
  const acceptedAt = performance.now();
  const deliveredAt = await sink.waitFor(before + sent.accepted, t0 + phaseLimitMs());
  const cpu1 = cpu();
  const machine = machineUse(machine0, machineCpu());
  const delivered = sink.count() - before;
  const seconds = ((deliveredAt ?? performance.now()) - t0) / 1000;
  const lat = sent.latencies?.sort((a, b) => a - b);
  const pct = (p: number) => (lat?.length ? Number((lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? 0).toFixed(1)) : undefined);
  const cpuMsPerMsg = Object.fromEntries(
    Object.keys(cpu1).map((k) => [k, Number(((((cpu1[k] ?? 0) - (cpu0[k] ?? 0)) * 1000) / Math.max(1, delivered)).toFixed(3))]),
  );
  return {
    system,
    door,
    run,
    messages: N,
    accepted: sent.accepted,
    failed: sent.failed,
    ...(sent.firstFailure ? { firstFailure: sent.firstFailure } : {}),
    timedOut: deliveredAt === undefined,
    acceptedPerSec: Math.round(sent.accepted / ((acceptedAt - t0) / 1000)),
    deliveredPerSec: Math.round(delivered / seconds),
    ...(lat ? { p50: pct(50), p99: pct(99) } : {}),
    cpuMsPerMsg,
    machine,
  };
}

function cpuSnapshot(hk: Running, pgPid: number | undefined, sink: SmtpSink): Record<string, number> {
  const snap: Record<string, number> = {};
  for (const p of hk.procs) {
    const key = p.name.startsWith("worker") ? "workers" : p.name;
    const own = cpuOf(p.child.pid);
    const tree = cpuOfTree(p.child.pid);
    // Descendants: the worker children with HIKYAKU_WORKER_PROCESSES (living or exited);
    // in the other topologies, the process's own helpers, counted as its.
    if (hk.topology === "two-process") {
      snap[key] = (snap[key] ?? 0) + own;
      snap.workers = (snap.workers ?? 0) + (tree - own);
    } else snap[key] = (snap[key] ?? 0) + tree;
  }
  if (pgPid) snap.postgres = cpuOfTree(pgPid);
  snap.sink = cpuOf(sink.pid);
  snap.bench = cpuOfSelf();
  return snap;
}

/** Waits (untimed, at most two minutes) until Hikyaku has recorded every outcome, so the next phase starts on a quiet service. */
async function waitSettled(db: Db): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const [row] = await db.sql<{ n: number }[]>`
      select (select count(*) from recipients where state in ('queued', 'sending', 'deferred'))::int
        + (select count(*) from delivery_queue where run_at <= now())::int as n`;
    if ((row?.n ?? 0) === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  console.error("bench: Hikyaku still had undelivered recipients after two minutes");
}

/** Fills the outbox with messages scheduled for tomorrow: they must not slow the due ones. */
async function seedScheduled(db: Db, n: number): Promise<void> {
  await db.sql`
    with a as (select id from accounts limit 1),
    m as (
      insert into messages (id, account_id, channel, envelope_from, message_id_header, priority, lifetime, retry_interval,
        size_bytes, created_at, deliverable_at, expires_at, pending)
      select gen_random_uuid(), a.id, 'http', 'bench@shop.example', gen_random_uuid()::text, 0, 1800, 60, 1000, now(),
        now() + interval '1 day', now() + interval '1 day 30 minutes', 1
      from a, generate_series(1, ${n})
      returning id, deliverable_at
    ),
    r as (insert into recipients (message_id, address, domain, state, updated_at) select id, 'later@dest.example', 'dest.example', 'scheduled', now() from m),
    c as (insert into message_contents (message_id, raw) select id, '\\x00'::bytea from m)
    insert into delivery_queue (message_id, run_at, priority) select id, deliverable_at, 0 from m`;
  // A service whose backlog grew over hours has long since been vacuumed and analysed;
  // without this the run would measure autovacuum catching up with the seed instead.
  await db.sql`vacuum analyze messages, recipients, message_contents, delivery_queue`;
}

/** postmaster.pid belongs to the postgres account (mode 600); the bench runs as root or as that account. */
function postmasterPid(clusterDir: string): number | undefined {
  try {
    return Number(readFileSync(path.join(clusterDir, "postmaster.pid"), "utf8").split("\n")[0]) || undefined;
  } catch {
    return undefined;
  }
}

main()
  .then(cleanUp, async (err) => {
    console.error(err);
    await cleanUp();
    process.exitCode = 1;
  })
  .then(() => process.exit());
