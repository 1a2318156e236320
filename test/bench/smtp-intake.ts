// SMTP intake bench: messages/s accepted on the relay port over N parallel connections,
// 1 KB each, with a bare pipelining client (MAIL+RCPT+DATA in one write, then the
// body) so the load generator leaves the cores to the service.
//
// `npm run bench` calls benchSmtpIntake() against its running service. Alone:
//   node --import tsx test/bench/smtp-intake.ts --host 127.0.0.1 --port 2525   (a running Hikyaku
//     whose relay allows this machine's IP), or with no --port: starts PostgreSQL, Hikyaku
//     (an smtp and a worker process) and a light sink itself, runs --runs times, prints each run and the
//     median of accepted/s and end-to-end delivered/s.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createAccount } from "../../src/accounts/accounts.ts";
import { connect, type Db } from "../../src/db/client.ts";
import { startEmbedded } from "../../src/db/embedded.ts";
import { migrate } from "../../src/db/migrate.ts";
import { freePort } from "../helpers/sink.ts";
import { waitForPort } from "./hikyaku-procs.ts";
import { startLightSink } from "./light-sink.ts";

export interface SmtpIntakeOptions {
  /** The relay port of a running Hikyaku that allows this machine's IP (PUT /v1/source-ips). */
  host: string;
  port: number;
  /** Messages to send in total. */
  count: number;
  /** Parallel SMTP sessions (the issue asks for 10). */
  connections: number;
  /** Client address to connect from (default: the system's choice). */
  localAddress?: string;
  /** Envelope sender and recipient domains (defaults: shop.example, dest.example). */
  from?: string;
  to?: string;
  /**
   * reuse (default): each session sends message after message, MAIL+RCPT+DATA pipelined.
   * per-message: a new connection for every message, one command at a time, then QUIT
   * (what PHP's mail() through a relay, and most small clients, do).
   */
  mode?: "reuse" | "per-message";
}

export interface SmtpIntakeResult {
  acceptedPerSec: number;
  accepted: number;
  refused: number;
  seconds: number;
  /** The first refusal's reply, to tell a misconfigured run from a slow one. */
  firstRefusal?: string;
}

/** A 1 KB message (headers and body) with CRLF line endings. */
export function oneKilobyteMessage(from: string, to: string, n: number): Buffer {
  const head = `From: Bench <${from}>\r\nTo: <${to}>\r\nSubject: SMTP intake bench ${n}\r\nMessage-ID: <bench-${process.pid}-${n}-${Date.now()}@shop.example>\r\n\r\n`;
  const line = `${"x".repeat(76)}\r\n`;
  let body = "";
  while (head.length + body.length + line.length <= 1024) body += line;
  return Buffer.from(head + body, "latin1");
}

export async function benchSmtpIntake(opts: SmtpIntakeOptions): Promise<SmtpIntakeResult> {
  const from = opts.from ?? "bench@shop.example";
  const to = opts.to ?? "someone@dest.example";
  let next = 0;
  let accepted = 0;
  let refused = 0;
  let firstRefusal: string | undefined;
  const started = performance.now();
  const count = (reply: string) => {
    if (reply.startsWith("250")) accepted++;
    else {
      refused++;
      firstRefusal ??= reply;
    }
  };
  if (opts.mode === "per-message") {
    await Promise.all(
      Array.from({ length: Math.min(opts.connections, opts.count) }, async () => {
        while (next < opts.count) {
          const n = next++;
          count(await sendAlone(opts, from, to, oneKilobyteMessage(from, to, n)));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    return {
      acceptedPerSec: Math.round(accepted / seconds),
      accepted,
      refused,
      seconds: Number(seconds.toFixed(2)),
      ...(firstRefusal ? { firstRefusal } : {}),
    };
  }
  const sessions = Array.from({ length: Math.min(opts.connections, opts.count) }, async () => {
    const s = await Session.open(opts);
    try {
      await s.command(`EHLO bench.${os.hostname()}`);
      while (next < opts.count) {
        const n = next++;
        count(await s.send(from, to, oneKilobyteMessage(from, to, n)));
      }
      await s.command("QUIT").catch(() => "");
    } finally {
      s.close();
    }
  });
  await Promise.all(sessions);
  const seconds = (performance.now() - started) / 1000;
  return { acceptedPerSec: Math.round(accepted / seconds), accepted, refused, seconds: Number(seconds.toFixed(2)), ...(firstRefusal ? { firstRefusal } : {}) };
}

/** One message on its own connection, each command awaited in turn; the final reply of DATA (or the first refusal). */
async function sendAlone(opts: SmtpIntakeOptions, from: string, to: string, raw: Buffer): Promise<string> {
  let s: Session;
  try {
    s = await Session.open(opts);
  } catch (err) {
    return `421 ${(err as Error).message}`;
  }
  try {
    for (const line of [`EHLO bench.${os.hostname()}`, `MAIL FROM:<${from}>`, `RCPT TO:<${to}>`, "DATA"]) {
      const reply = await s.command(line);
      if (!reply.startsWith("2") && !reply.startsWith("3")) return reply;
    }
    const reply = await s.body(raw);
    await s.command("QUIT").catch(() => "");
    // The server closes after 221: wait for that, so the closing side (and its TIME_WAIT) is the server's, as with real clients.
    await s.closed();
    return reply;
  } catch (err) {
    return `421 ${(err as Error).message}`;
  } finally {
    s.close();
  }
}

/** One SMTP session that reads whole replies (a final line has a space after the code). */
class Session {
  private buffer = "";
  private readonly replies: string[] = [];
  private waiting: ((reply: string) => void) | undefined;
  private failed: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => (this.failed = err));
    socket.on("close", () => {
      this.failed ??= new Error("the server closed the connection");
      this.waiting?.("421 connection closed");
    });
  }

  static async open(opts: SmtpIntakeOptions): Promise<Session> {
    const socket = net.connect({ host: opts.host, port: opts.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    const s = new Session(socket);
    const greeting = await s.reply();
    if (!greeting.startsWith("220")) throw new Error(`SMTP greeting refused: ${greeting}`);
    return s;
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** MAIL, RCPT and DATA pipelined (RFC 2920), then the dot-stuffed body; returns the final reply. */
  async send(from: string, to: string, raw: Buffer): Promise<string> {
    this.socket.write(`MAIL FROM:<${from}>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
    const [mail, rcpt, data] = [await this.reply(), await this.reply(), await this.reply()];
    if (!data.startsWith("354")) return [mail, rcpt, data].find((r) => !r.startsWith("2") && !r.startsWith("3")) ?? data;
    return this.body(raw);
  }

  /** The dot-stuffed message and its final dot, after a 354. */
  body(raw: Buffer): Promise<string> {
    const stuffed = raw.toString("latin1").replace(/^\./gm, "..");
    this.socket.write(Buffer.from(`${stuffed}.\r\n`, "latin1"));
    return this.reply();
  }

  /** Resolves when the server has closed the connection (at most 5 s). */
  closed(): Promise<void> {
    if (this.socket.destroyed || this.socket.readableEnded) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 5000);
      this.socket.once("close", () => {
        clearTimeout(t);
        resolve();
      });
      this.socket.once("end", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer += chunk.toString("latin1");
    for (let i = this.buffer.indexOf("\r\n"); i !== -1; i = this.buffer.indexOf("\r\n")) {
      const line = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      if (line.length > 3 && line[3] === "-") continue;
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w(line);
      else this.replies.push(line);
    }
  }

  private reply(): Promise<string> {
    const ready = this.replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve) => (this.waiting = resolve));
  }
}

// Standalone: everything on this machine, or a service you name with --port.
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string" },
      count: { type: "string", default: "5000" },
      connections: { type: "string", default: "10" },
      runs: { type: "string", default: "3" },
      warmup: { type: "string", default: "500" },
    },
  });
  const count = Number(values.count);
  const connections = Number(values.connections);
  if (values.port) {
    console.log(JSON.stringify(await benchSmtpIntake({ host: values.host ?? "127.0.0.1", port: Number(values.port), count, connections }), null, 2));
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-smtp-bench-"));
  chmodSync(dir, 0o755);
  const embedded = process.env.DATABASE_URL ? undefined : await startEmbedded(dir, await freePort(), "bench");
  const url = process.env.DATABASE_URL ?? embedded?.url ?? "";
  const db = connect(url, { max: 4 });
  const sink = await startLightSink();
  const children: ChildProcess[] = [];
  try {
    await migrate(db, url);
    await db.sql`truncate messages, delivery_queue, delivery_events, reception_events, source_ips cascade`;
    const { account } = await createAccount(db, "smtp-bench");
    await db.sql`insert into source_ips (ip, account_id) values ('127.0.0.1', ${account.id})`;
    const relayPort = await freePort();
    const env = {
      ...process.env,
      DATABASE_URL: url,
      HIKYAKU_SMTP_RELAY_PORT: String(relayPort),
      HIKYAKU_SMTP_SUBMISSION_PORT: String(await freePort()),
      HIKYAKU_SMTPS_PORT: String(await freePort()),
      HIKYAKU_DATA_DIR: dir,
      HIKYAKU_ROUTES: `*=127.0.0.1:${sink.port}`,
      HIKYAKU_HOSTNAME: "bench.hikyaku.test",
      HIKYAKU_LOG_LEVEL: "warn",
    };
    // Intake and delivery in separate processes, as in production, so each has a core's worth of event loop.
    children.push(start({ ...env, HIKYAKU_ROLES: "smtp" }), start({ ...env, HIKYAKU_ROLES: "worker" }));
    await waitForPort(relayPort);
    // An untimed warm-up, so the runs measure a warm JIT and warm caches, not the first seconds of a process.
    const warm = await benchSmtpIntake({ host: "127.0.0.1", port: relayPort, count: Number(values.warmup), connections });
    await waitDelivered(db, warm.accepted);
    const runs: { accepted_per_s: number; delivered_per_s: number; refused: number }[] = [];
    for (let i = 0; i < Number(values.runs); i++) {
      const before = await deliveredCount(db);
      const started = performance.now();
      const r = await benchSmtpIntake({ host: "127.0.0.1", port: relayPort, count, connections });
      if (r.firstRefusal) console.error(`refused ${r.refused}: ${r.firstRefusal}`);
      const delivered = await waitDelivered(db, before + r.accepted);
      const run = {
        accepted_per_s: r.acceptedPerSec,
        delivered_per_s: Math.round((delivered - before) / ((performance.now() - started) / 1000)),
        refused: r.refused,
      };
      console.error(`run ${i + 1}: ${JSON.stringify(run)}`);
      runs.push(run);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    console.log(
      JSON.stringify(
        {
          messages_per_run: count,
          connections,
          message_bytes: oneKilobyteMessage("bench@shop.example", "someone@dest.example", 0).length,
          runs,
          median_accepted_per_s: median(runs.map((r) => r.accepted_per_s)),
          median_delivered_per_s: median(runs.map((r) => r.delivered_per_s)),
        },
        null,
        2,
      ),
    );
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))));
    await sink.close();
    await db.close();
    await embedded?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function start(env: NodeJS.ProcessEnv): ChildProcess {
  // BENCH_PROFILE=dir writes a V8 CPU profile of each service process there.
  const prof = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  return spawn(process.execPath, [...prof, "src/bin/hikyaku.mjs", "start"], { env, stdio: ["ignore", "ignore", "inherit"] });
}

async function deliveredCount(db: Db): Promise<number> {
  const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from delivery_events where event = 'delivered'`;
  return row?.n ?? 0;
}

async function waitDelivered(db: Db, target: number): Promise<number> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const n = await deliveredCount(db);
    if (n >= target || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
