// The worker role in child processes of `hikyaku start` (HIKYAKU_WORKER_PROCESSES): the
// parent keeps intake (api, smtp) and the embedded PostgreSQL, each child runs
// `hikyaku start` with HIKYAKU_ROLES=worker on the parent's database. One event loop
// carrying intake and delivery together was the bound of a one-process service on a
// two-core machine (it kept 1.6 of 2 cores busy; `npm run bench`).
//
// The children are real worker processes, as with HIKYAKU_ROLES: several may share the
// database, a killed one's jobs come back after its missed heartbeats. Here the parent
// starts another when one dies, stops them before the database on shutdown, and asks
// them for their counters over the IPC channel at each scrape of its /metrics. A child
// whose parent is gone (even after SIGKILL) sees its channel close and shuts down.
import { type ChildProcess, spawn } from "node:child_process";
import { log } from "../logger.ts";
import type { Family } from "../metrics/exposition.ts";
import { addCountersFrom, instrumentFamilies } from "../metrics/instruments.ts";

const RESTART_MS = 1000;
const COUNTERS_WAIT_MS = 1000;

interface CountersAsk {
  type: "hikyaku:counters?";
  id: number;
}
interface CountersAnswer {
  type: "hikyaku:counters";
  id: number;
  families: Family[];
}

export interface WorkerChildren {
  /** The children's pids now (for logs and tests). */
  pids(): number[];
  /** SIGTERM to each, then waits (SIGKILL after `ms`); true when every one exited 0. */
  stop(ms: number): Promise<boolean>;
}

/** Starts `count` worker children of this `hikyaku start` on `databaseUrl`. */
export function startWorkerChildren(count: number, databaseUrl: string): WorkerChildren {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, HIKYAKU_ROLES: "worker", HIKYAKU_WORKER_PROCESSES: "0" };
  // Their counters come to the parent's /metrics; a port of their own would clash.
  delete env.HIKYAKU_METRICS_PORT;
  const children: (ChildProcess | undefined)[] = new Array(count).fill(undefined);
  let stopping = false;
  let asked = 0;

  const launch = (slot: number) => {
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1] as string, "start"], {
      env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children[slot] = child;
    child.once("exit", (code, signal) => {
      if (stopping) return;
      log.error("a worker process exited; starting another", { pid: child.pid, code, signal });
      setTimeout(() => {
        if (!stopping) launch(slot);
      }, RESTART_MS).unref();
    });
    child.on("error", (err) => log.error("a worker process could not be started", { err }));
  };
  for (let i = 0; i < count; i++) launch(i);

  const countersOf = (child: ChildProcess): Promise<Family[]> =>
    new Promise((resolve) => {
      if (!child.connected) return resolve([]);
      const id = ++asked;
      const done = (families: Family[]) => {
        clearTimeout(timer);
        child.off("message", onMessage);
        resolve(families);
      };
      const onMessage = (m: unknown) => {
        const a = m as CountersAnswer;
        if (a?.type === "hikyaku:counters" && a.id === id) done(a.families);
      };
      const timer = setTimeout(() => done([]), COUNTERS_WAIT_MS);
      child.on("message", onMessage);
      child.send({ type: "hikyaku:counters?", id } satisfies CountersAsk, (err) => {
        if (err) done([]);
      });
    });
  const removeSource = addCountersFrom(async () => (await Promise.all(children.flatMap((c) => (c ? [countersOf(c)] : [])))).flat());

  return {
    pids: () => children.flatMap((c) => (c?.pid !== undefined && c.exitCode === null && c.signalCode === null ? [c.pid] : [])),
    async stop(ms) {
      stopping = true;
      removeSource();
      const exits = children.map(
        (child) =>
          new Promise<boolean>((resolve) => {
            if (!child || child.exitCode !== null || child.signalCode !== null) return resolve(child?.exitCode === 0);
            const kill = setTimeout(() => child.kill("SIGKILL"), ms);
            child.once("exit", (code) => {
              clearTimeout(kill);
              resolve(code === 0);
            });
            child.kill("SIGTERM");
          }),
      );
      return (await Promise.all(exits)).every(Boolean);
    },
  };
}

/**
 * In a child: answers the parent's asks for this process's counters, and calls `gone`
 * when the parent is (the IPC channel closed). Nothing happens in a process without one.
 */
export function serveParent(gone: () => void): void {
  if (!process.send) return;
  process.on("message", (m: unknown) => {
    const ask = m as CountersAsk;
    if (ask?.type !== "hikyaku:counters?") return;
    process.send?.({ type: "hikyaku:counters", id: ask.id, families: instrumentFamilies() } satisfies CountersAnswer);
  });
  process.once("disconnect", gone);
  // Gone already, while this process was still starting: the event was missed.
  if (!process.connected) gone();
}
