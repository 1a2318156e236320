// One PostgreSQL server process (the postmaster) on a cluster folder: create the cluster,
// start the server and wait until it accepts connections, find one left running by a
// process that died, and stop one. As root, everything runs as the server account.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { PgAccount } from "./pg-account.ts";
import type { PgBinaries } from "./pg-binaries.ts";

const READY_TIMEOUT_MS = 120_000;

export async function initCluster(bin: PgBinaries, account: PgAccount | undefined, clusterDir: string, password: string): Promise<void> {
  await fs.mkdir(clusterDir, { recursive: true, mode: 0o700 });
  if (account) await fs.chown(clusterDir, account.uid, account.gid);
  // initdb reads the password from a file, readable by the server account only, beside the
  // cluster: the account can reach that folder (the system tmp dir may be private).
  const pwDir = await fs.mkdtemp(path.join(path.dirname(clusterDir), ".initdb-"));
  const pwFile = path.join(pwDir, "password");
  try {
    await fs.writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (account) await Promise.all([fs.chown(pwDir, account.uid, account.gid), fs.chown(pwFile, account.uid, account.gid)]);
    const args = [
      `--pgdata=${clusterDir}`,
      "--username=postgres",
      `--pwfile=${pwFile}`,
      "--auth=scram-sha-256",
      "--encoding=UTF8",
      "--no-locale",
      "--no-instructions",
    ];
    const { code, stderr } = await run(bin.initdb, args, account);
    if (code !== 0) throw new Error(`initdb could not create the PostgreSQL cluster in ${clusterDir}: ${lastLines(stderr)}`);
  } finally {
    await fs.rm(pwDir, { recursive: true, force: true });
  }
}

export interface Postmaster {
  child: ChildProcess;
  /** Settles when the process has exited, with how it ended. */
  exited: Promise<string>;
}

/** Starts the server and resolves once it accepts connections; rejects with the reason it gave when it stops first. */
export async function startPostmaster(
  bin: PgBinaries,
  account: PgAccount | undefined,
  clusterDir: string,
  port: number,
  onSpawn: (child: ChildProcess) => void = () => {},
): Promise<Postmaster> {
  const flags = [
    "-D",
    clusterDir,
    "-p",
    String(port),
    "-c",
    "listen_addresses=127.0.0.1",
    "-c",
    "max_connections=200",
    "-c",
    "unix_socket_directories=",
    "-c",
    "lc_messages=C",
  ];
  const child = spawn(bin.postgres, flags, { ...(account ?? {}), cwd: "/", stdio: ["ignore", "ignore", "pipe"], env: serverEnv() });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString("utf8")).slice(-8000);
  });
  let spawnError: Error | undefined;
  child.on("error", (err) => (spawnError = err));
  onSpawn(child);
  const exited = new Promise<string>((resolve) => child.once("close", (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`)));
  let gone = false;
  exited.then(() => (gone = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) throw new Error(`Could not run the PostgreSQL server ${bin.postgres}: ${spawnError.message}`, { cause: spawnError });
    if (gone) break;
    if (child.pid !== undefined && readPidFile(clusterDir)?.ready === child.pid) return { child, exited };
    if (Date.now() > deadline) {
      child.kill("SIGQUIT");
      throw new Error(`The embedded PostgreSQL in ${clusterDir} did not become ready within ${READY_TIMEOUT_MS / 1000} s: ${lastLines(stderr)}`);
    }
    await sleep(100);
  }
  const how = await exited;
  if (/could not bind|Address already in use|could not create any TCP\/IP sockets/.test(stderr)) {
    throw new Error(
      `Could not start the embedded PostgreSQL: port ${port} is taken by another program; set HIKYAKU_EMBEDDED_PG_PORT to a free port, or DATABASE_URL.`,
    );
  }
  throw new Error(`The embedded PostgreSQL in ${clusterDir} stopped while starting (${how}): ${lastLines(stderr)}`);
}

/** The pid in the cluster's postmaster.pid when that process is alive: a server someone left running. */
export function runningPostmaster(clusterDir: string): number | undefined {
  const pid = readPidFile(clusterDir)?.pid;
  return pid !== undefined && alive(pid) ? pid : undefined;
}

/** Fast shutdown (SIGINT: sessions are ended, then a checkpoint), escalating if the server does not go. */
export async function stopPostmaster(pid: number, timeoutMs = 30_000): Promise<void> {
  for (const [signal, wait] of [
    ["SIGINT", timeoutMs],
    ["SIGQUIT", 10_000],
    ["SIGKILL", 10_000],
  ] as const) {
    if (!alive(pid)) return;
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const until = Date.now() + wait;
    while (alive(pid) && Date.now() < until) await sleep(50);
  }
}

/** The parent of a process (Linux /proc), or undefined where that cannot be read. */
export function parentOf(pid: number): number | undefined {
  try {
    // Fields after the parenthesised command name: state, ppid, …
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** postmaster.pid: line 1 the pid, line 8 the status ("ready" once connections are accepted). */
function readPidFile(clusterDir: string): { pid: number; ready?: number } | undefined {
  const file = path.join(clusterDir, "postmaster.pid");
  if (!existsSync(file)) return undefined;
  try {
    const lines = readFileSync(file, "utf8").split("\n");
    const pid = Number(lines[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return { pid, ready: lines[7]?.trim() === "ready" ? pid : undefined };
  } catch {
    return undefined;
  }
}

function run(binary: string, args: string[], account: PgAccount | undefined): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { ...(account ?? {}), cwd: "/", stdio: ["ignore", "ignore", "pipe"], env: serverEnv() });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString("utf8")).slice(-8000);
    });
    child.once("error", (err) => reject(new Error(`Could not run ${binary}: ${err.message}`, { cause: err })));
    child.once("close", (code) => resolve({ code, stderr }));
  });
}

/** English messages whatever the machine's locale (errors are quoted to the operator); the binaries need nothing else. */
function serverEnv(): NodeJS.ProcessEnv {
  return { LC_ALL: "C", LANG: "C" };
}

function lastLines(text: string): string {
  const lines = text.trim().split("\n").filter(Boolean);
  return lines.slice(-3).join(" / ") || "no output";
}
