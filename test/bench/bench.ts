// `npm run bench`: end-to-end throughput on this machine. Starts PostgreSQL (embedded,
// or DATABASE_URL), a destination sink on loopback, and Hikyaku as separate api and
// worker processes; sends N messages through POST /v1/messages; waits until every one
// is delivered; prints accepted/s, delivered/s, API latency p50/p99 and peak RSS.
//
//   npm run bench -- --messages 20000 --concurrency 64 [--workers 1] [--scheduled 100000] [--webhook]
//
// --webhook subscribes a receiver on loopback to every `delivered` event and adds the
// time from each delivery event to its webhook's arrival (p50/p99) to the result.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createAccount } from "../../src/accounts/accounts.ts";
import { connect } from "../../src/db/client.ts";
import { startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import http from "node:http";
import { freePort } from "../helpers/sink.ts";
import { startLightSink } from "./light-sink.ts";

const { values: args } = parseArgs({
  options: {
    messages: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "64" },
    workers: { type: "string", default: "1" },
    scheduled: { type: "string", default: "0" },
    webhook: { type: "boolean", default: false },
  },
});
const N = Number(args.messages);
const CONCURRENCY = Number(args.concurrency);

async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-bench-"));
  chmodSync(dir, 0o755);
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbedded(dir, await freePort(), "bench");
  const url = process.env.DATABASE_URL ?? embedded?.url ?? "";
  const db = connect(url, { max: 4 });
  const children: ChildProcess[] = [];
  const sink = await startLightSink();
  let hooks: Awaited<ReturnType<typeof startWebhookReceiver>> | undefined;
  try {
    await migrate(db, url);
    await db.sql`truncate messages, delivery_queue, delivery_events, reception_events cascade`;
    const { key } = await createAccount(db, "bench");
    if (Number(args.scheduled) > 0) await seedScheduled(db, key.key, Number(args.scheduled));
    const httpPort = await freePort();
    const env = {
      ...process.env,
      DATABASE_URL: url,
      HIKYAKU_HTTP_PORT: String(httpPort),
      HIKYAKU_ROUTES: `*=127.0.0.1:${sink.port}`,
      HIKYAKU_LOG_LEVEL: "warn",
      HIKYAKU_HOSTNAME: "bench.hikyaku.test",
      // One account sends everything, far faster than the default rate limit allows.
      HIKYAKU_API_RATE_LIMIT: "100000000",
      ...(args.webhook ? { HIKYAKU_ALLOW_PRIVATE_DESTINATIONS: "true" } : {}),
    };
    children.push(start({ ...env, HIKYAKU_ROLES: "api" }));
    for (let i = 0; i < Number(args.workers); i++) children.push(start({ ...env, HIKYAKU_ROLES: "worker" }));
    const base = `http://127.0.0.1:${httpPort}`;
    await waitReady(base);
    hooks = args.webhook ? await startWebhookReceiver(base, key.key) : undefined;
    const body = JSON.stringify({
      from: "Bench <bench@shop.example>",
      to: "someone@dest.example",
      subject: "Benchmark message",
      text: "x".repeat(700),
    });
    const latencies: number[] = [];
    const started = performance.now();
    let next = 0;
    let failures = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < N) {
          next++;
          const t0 = performance.now();
          const status = await post(`${base}/v1/messages`, key.key, body);
          latencies.push(performance.now() - t0);
          if (status !== 202) failures++;
        }
      }),
    );
    const acceptedAt = performance.now();
    let delivered = 0;
    while (delivered < N - failures) {
      const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from delivery_events where event = 'delivered'`;
      delivered = row?.n ?? 0;
      if (performance.now() - acceptedAt > 600_000) throw new Error(`only ${delivered} of ${N} delivered after 10 minutes`);
      if (delivered < N - failures) await new Promise((r) => setTimeout(r, 100));
    }
    const deliveredAt = performance.now();
    if (hooks) await hooks.waitFor(delivered);
    latencies.sort((a, b) => a - b);
    const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]?.toFixed(1);
    const result = {
      messages: N,
      concurrency: CONCURRENCY,
      workers: Number(args.workers),
      scheduled_waiting: Number(args.scheduled),
      failures,
      accepted_per_s: Math.round(N / ((acceptedAt - started) / 1000)),
      delivered_per_s: Math.round(delivered / ((deliveredAt - started) / 1000)),
      api_latency_ms: { p50: pct(50), p99: pct(99) },
      peak_rss_mb: Object.fromEntries(children.map((c, i) => [i === 0 ? "api" : `worker${i}`, peakRssMb(c.pid)])),
      cpu_seconds: {
        ...Object.fromEntries(children.map((c, i) => [i === 0 ? "api" : `worker${i}`, cpuSeconds(c.pid)])),
        bench_and_sink: Number((process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6).toFixed(1)),
        postgres: postgresCpuSeconds(),
      },
      sink_received: sink.received(),
      ...(hooks ? { webhooks: hooks.summary() } : {}),
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    hooks?.close();
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
    await sink.close();
    await db.close();
    await embedded?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// node:http with keep-alive: the lightest client, so the load generator leaves the cores to the service.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
function post(url: string, key: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: "POST", agent, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A webhook receiver on loopback, subscribed to `delivered`: latency = arrival - the event's time. */
async function startWebhookReceiver(base: string, key: string) {
  const latencies: number[] = [];
  const ids = new Set<string>();
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const at = Date.now();
      ids.add(String(req.headers["webhook-id"]));
      latencies.push(at - Date.parse(JSON.parse(body).time));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const r = await fetch(`${base}/v1/webhooks`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ url: `http://127.0.0.1:${port}/hooks`, events: ["delivered"] }),
  });
  if (r.status !== 201) throw new Error(`could not create the webhook endpoint: ${r.status} ${await r.text()}`);
  const started = performance.now();
  return {
    async waitFor(n: number) {
      while (ids.size < n) {
        if (performance.now() - started > 600_000) throw new Error(`only ${ids.size} of ${n} webhooks after 10 minutes`);
        await new Promise((res) => setTimeout(res, 100));
      }
    },
    summary() {
      const sorted = [...latencies].sort((a, b) => a - b);
      const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
      return { received: latencies.length, distinct: ids.size, latency_ms: { p50: pct(50), p99: pct(99), max: sorted[sorted.length - 1] } };
    },
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

function start(env: NodeJS.ProcessEnv): ChildProcess {
  // BENCH_PROFILE=dir writes a V8 CPU profile of each service process there.
  const prof = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const child = spawn(process.execPath, [...prof, "src/bin/hikyaku.mjs", "start"], { env, stdio: ["ignore", "ignore", "inherit"] });
  return child;
}

async function waitReady(base: string) {
  // A minute: on a loaded shared machine the api process can take that long to start.
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the api process did not become ready");
}

function cpuSeconds(pid: number | undefined): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return Number(((Number(fields[11]) + Number(fields[12])) / 100).toFixed(1));
  } catch {
    return null;
  }
}

/** CPU of every process running as the postgres user (the embedded cluster). */
function postgresCpuSeconds(): number {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("postgres")) continue;
      total += cpuSeconds(Number(pid)) ?? 0;
    } catch {}
  }
  return Number(total.toFixed(1));
}

function peakRssMb(pid: number | undefined): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** Fills the outbox with messages scheduled for tomorrow: they must not slow the due ones. */
async function seedScheduled(db: ReturnType<typeof connect>, _key: string, n: number) {
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

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
