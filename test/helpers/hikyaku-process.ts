// The `hikyaku` command as a user runs it: real processes of src/bin/hikyaku.mjs with an
// environment of the test's choosing, their output, signals and exit codes.
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";

export const BIN = path.resolve("src/bin/hikyaku.mjs");

export const cleanEnv = (): Record<string, string> =>
  Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !k.startsWith("HIKYAKU_") && k !== "DATABASE_URL")) as Record<
    string,
    string
  >;

export interface Running {
  child: ChildProcessByStdio<null, Readable, Readable>;
  out(): string;
  err(): string;
  exited: Promise<number | null>;
  /** Resolves with the regex match once stdout matches, or rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
}

export function spawnHikyaku(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  child.stdout.on("data", (d) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    waitFor(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const done = (fn: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          fn();
        };
        const check = () => {
          const m = re.exec(out);
          if (m) done(() => resolve(m));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${re} on stdout within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err.slice(-3000)}`))),
          timeoutMs,
        );
        listeners.add(check);
        exited.then((code) => done(() => reject(new Error(`hikyaku exited (${code}) before printing ${re}\nstdout: ${out}\nstderr: ${err.slice(-3000)}`))));
        check();
      });
    },
  };
}

/** Runs a command to completion (killed after timeoutMs). */
/**
 * A real `hikyaku start` running only the worker role on a test's database, with the
 * settings every such test wants (loopback destinations allowed, a heartbeat each second,
 * quiet logs); `env` adds to them or replaces them.
 */
export function spawnWorker(databaseUrl: string, env: Record<string, string> = {}): Running {
  return spawnHikyaku(["start"], {
    DATABASE_URL: databaseUrl,
    HIKYAKU_ROLES: "worker",
    HIKYAKU_HOSTNAME: "hikyaku.test",
    HIKYAKU_ALLOW_PRIVATE_DESTINATIONS: "true",
    HIKYAKU_HEARTBEAT_SECONDS: "1",
    HIKYAKU_LOG_LEVEL: "error",
    ...env,
  });
}

export async function runHikyaku(args: string[], env: Record<string, string>, timeoutMs = 45_000) {
  const r = spawnHikyaku(args, env);
  const timer = setTimeout(() => r.child.kill("SIGKILL"), timeoutMs);
  const code = await r.exited;
  clearTimeout(timer);
  return { code, out: r.out(), err: r.err() };
}

/** Sends SIGTERM (or the given signal) and waits for the exit code (SIGKILL after timeoutMs). */
export async function stopHikyaku(r: Running, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 20_000): Promise<number | null> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return r.exited;
  r.child.kill(signal);
  const timer = setTimeout(() => r.child.kill("SIGKILL"), timeoutMs);
  const code = await r.exited;
  clearTimeout(timer);
  return code;
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** The pid in a cluster's postmaster.pid (the running PostgreSQL server), if there is one. */
export function postmasterPid(clusterDir: string): number | undefined {
  const file = path.join(clusterDir, "postmaster.pid");
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
  return pid > 0 ? pid : undefined;
}

/** True while a process with this pid exists (as root or as its owner). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** One API call with a key; the JSON body, whatever the status. */
export async function apiCall(url: string, key: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + p, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** After a failed test: stops (SIGQUIT) every PostgreSQL whose cluster is at most three folders below dir. */
export async function stopPostmastersUnder(dir: string): Promise<void> {
  const pids: number[] = [];
  const walk = (d: string, depth: number) => {
    const pid = postmasterPid(d);
    if (pid && alive(pid)) pids.push(pid);
    if (depth === 0) return;
    try {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name), depth - 1);
    } catch {}
  };
  walk(dir, 3);
  for (const pid of pids) process.kill(pid, "SIGQUIT");
  const until = Date.now() + 15_000;
  while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
}
