// Hikyaku as the bench runs it: one process with every role (HIKYAKU_ROLES unset), or
// api + smtp + N worker processes on one database, or (two-process) one `hikyaku start`
// with HIKYAKU_WORKER_PROCESSES=1: api and smtp in it, the worker in its child process;
// started and stopped around each block.
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src/bin/hikyaku.mjs");

export type Topology = "all-in-one" | "split" | "two-process";

export interface Running {
  topology: Topology;
  /** Each process with the roles it runs ("all", "api", "smtp", "worker1", …). */
  procs: { name: string; child: ChildProcess }[];
  base: string;
  relayPort: number;
  stop(): Promise<void>;
}

export interface Ports {
  http: number;
  relay: number;
  submission: number;
  smtps: number;
}

export async function startHikyaku(topology: Topology, env: NodeJS.ProcessEnv, ports: Ports, workers: number): Promise<Running> {
  const common: NodeJS.ProcessEnv = {
    ...env,
    HIKYAKU_HTTP_PORT: String(ports.http),
    HIKYAKU_SMTP_RELAY_PORT: String(ports.relay),
    HIKYAKU_SMTP_SUBMISSION_PORT: String(ports.submission),
    HIKYAKU_SMTPS_PORT: String(ports.smtps),
  };
  const roles: [string, string | undefined][] =
    topology === "all-in-one"
      ? [["all", undefined]]
      : topology === "two-process"
        ? [["front", undefined]]
        : [["api", "api"], ["smtp", "smtp"], ...Array.from({ length: workers }, (_, i): [string, string] => [`worker${i + 1}`, "worker"])];
  const procs = roles.map(([name, role]) => {
    const e: NodeJS.ProcessEnv = { ...common };
    if (role) e.HIKYAKU_ROLES = role;
    else delete e.HIKYAKU_ROLES;
    // two-process: one `hikyaku start` whose worker role runs in a child process (the
    // default on two cores); all-in-one: everything in the one process.
    e.HIKYAKU_WORKER_PROCESSES = topology === "two-process" ? "1" : "0";
    return { name, child: start(e, name) };
  });
  const base = `http://127.0.0.1:${ports.http}`;
  const running: Running = {
    topology,
    procs,
    base,
    relayPort: ports.relay,
    async stop() {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGTERM");
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((r) => {
              if (p.child.exitCode !== null || p.child.signalCode !== null) return r();
              const t = setTimeout(() => {
                p.child.kill("SIGKILL");
                r();
              }, 20_000);
              p.child.once("exit", () => {
                clearTimeout(t);
                r();
              });
            }),
        ),
      );
    },
  };
  try {
    await waitReady(base, procs);
    await waitForPort(ports.relay, procs);
  } catch (err) {
    await running.stop();
    throw err;
  }
  return running;
}

function start(env: NodeJS.ProcessEnv, name: string): ChildProcess {
  // BENCH_PROFILE=dir writes V8 CPU profiles of each service process to dir/<name>/ (one per
  // thread: the largest is the main thread, a small one tsx's loader).
  const prof = env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${path.join(env.BENCH_PROFILE, name)}`] : [];
  return spawn(process.execPath, [...prof, CLI, "start"], { env, stdio: ["ignore", "ignore", "inherit"] });
}

function exitedEarly(procs: Running["procs"]): string | undefined {
  const dead = procs.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
  return dead ? `the ${dead.name} process exited (${dead.child.exitCode ?? dead.child.signalCode}) before it was ready` : undefined;
}

async function waitReady(base: string, procs: Running["procs"]): Promise<void> {
  // Two minutes: on a loaded shared machine a process can take long to start.
  for (let i = 0; i < 1200; i++) {
    const dead = exitedEarly(procs);
    if (dead) throw new Error(dead);
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the api did not become ready within two minutes");
}

export async function waitForPort(port: number, procs: Running["procs"] = []): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const dead = exitedEarly(procs);
    if (dead) throw new Error(dead);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not open within two minutes`);
}
