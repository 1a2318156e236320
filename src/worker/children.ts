// The worker role in child processes of `hikyaku start` (HIKYAKU_WORKER_PROCESSES): the
// parent keeps intake (api, smtp) and the embedded PostgreSQL, each child runs
// `hikyaku start` with HIKYAKU_ROLES=worker on the parent's database. One event loop
// carrying intake and delivery together was the bound of a one-process service on a
// two-core machine (it kept 1.6 of 2 cores busy; `npm run bench`).
//
// The children are real worker processes, as with HIKYAKU_ROLES: several may share the
// database, a killed one's jobs come back after its missed heartbeats. Here the parent
// starts another when one dies (waiting longer each time one dies soon after its start),
// stops them before the database on shutdown, and asks them for their counters over the
// IPC channel at each scrape of its /metrics. They run in a process group of their own,
// so a terminal's Ctrl-C reaches only the parent, which stops them in order. A child
// whose parent is gone (even after SIGKILL) sees its channel close and shuts down.
import { type ChildProcess, spawn } from "node:child_process";
import { log } from "../logger.ts";
import type { Family } from "../metrics/exposition.ts";
import { addCountersFrom, instrumentFamilies, mergeFamilies } from "../metrics/instruments.ts";

/** Marks a worker child in its environment: only such a process answers and follows its parent. */
const CHILD_MARK = "HIKYAKU_WORKER_CHILD";
const RESTART_FIRST_MS = 1000;
const RESTART_MAX_MS = 60_000;
/** A child that ran this long before it died was healthy: the next restart waits RESTART_FIRST_MS again. */
const HEALTHY_MS = 60_000;
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

/** A child's word that it now handles signals itself (sent once, early in its start-up). */
interface SignalsHandled {
  type: "hikyaku:signals";
}

interface Slot {
  child?: ChildProcess;
  /** The child in the slot said it handles signals: a death by SIGTERM is then not a clean stop. */
  handlesSignals: boolean;
  startedAt: number;
  restartMs: number;
  /** The counters of the child now in the slot, as it last answered. */
  last: Family[];
}

export interface WorkerChildren {
  /** The children's pids now (for logs and tests). */
  pids(): number[];
  /**
   * SIGTERM to each, then waits, SIGKILL after `ms`; rejects unless every one exited 0,
   * or died of that SIGTERM before it could handle signals (so before it began any work).
   */
  stop(ms: number): Promise<void>;
}

/** Starts `count` worker children of this `hikyaku start` on `databaseUrl`. */
export function startWorkerChildren(count: number, databaseUrl: string, shutdownSeconds: number): WorkerChildren {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    HIKYAKU_ROLES: "worker",
    HIKYAKU_WORKER_PROCESSES: "0",
    // Inside the parent's wait for it (see cli.ts), so it ends by its own bound first.
    HIKYAKU_SHUTDOWN_SECONDS: String(shutdownSeconds),
    [CHILD_MARK]: "1",
  };
  // Their counters come to the parent's /metrics; a port of their own would clash.
  delete env.HIKYAKU_METRICS_PORT;
  // A debugger's port (or a pause waiting for one) is the parent's, not each child's.
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--inspect"));
  const slots: Slot[] = Array.from({ length: count }, () => ({ startedAt: 0, restartMs: RESTART_FIRST_MS, last: [], handlesSignals: false }));
  // Counters of children that died, so that a restart never makes a counter go back.
  let retired: Family[] = [];
  let stopping = false;
  let asked = 0;

  const launch = (slot: Slot) => {
    const child = spawn(process.execPath, [...execArgv, process.argv[1] as string, "start"], {
      env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      detached: true,
    });
    slot.child = child;
    slot.startedAt = Date.now();
    slot.handlesSignals = false;
    child.on("message", (m: unknown) => {
      if ((m as SignalsHandled)?.type === "hikyaku:signals") slot.handlesSignals = true;
    });
    let ended = false;
    // A failed spawn emits `error` and no `exit`: either one ends the child, once.
    const end = (how: Record<string, unknown>) => {
      if (ended) return;
      ended = true;
      retired = mergeFamilies([retired, slot.last]);
      slot.last = [];
      if (stopping) return;
      slot.restartMs = Date.now() - slot.startedAt >= HEALTHY_MS ? RESTART_FIRST_MS : slot.restartMs;
      log.error("a worker process ended; starting another", { ...how, pid: child.pid, restart_in_ms: slot.restartMs });
      setTimeout(() => {
        if (!stopping) launch(slot);
      }, slot.restartMs).unref();
      slot.restartMs = Math.min(RESTART_MAX_MS, slot.restartMs * 2);
    };
    child.once("exit", (code, signal) => end({ code, signal }));
    child.once("error", (err) => end({ err }));
  };
  for (const slot of slots) launch(slot);

  const countersOf = (slot: Slot): Promise<Family[]> =>
    new Promise((resolve) => {
      const child = slot.child;
      if (!child?.connected) return resolve(slot.last);
      const id = ++asked;
      const done = (families?: Family[]) => {
        clearTimeout(timer);
        child.off("message", onMessage);
        if (families) slot.last = families;
        // No answer in time: what it said last, not nothing (a counter never goes back).
        resolve(slot.last);
      };
      const onMessage = (m: unknown) => {
        const a = m as CountersAnswer;
        if (a?.type === "hikyaku:counters" && a.id === id) done(a.families);
      };
      const timer = setTimeout(() => done(), COUNTERS_WAIT_MS);
      child.on("message", onMessage);
      child.send({ type: "hikyaku:counters?", id } satisfies CountersAsk, (err) => {
        if (err) done();
      });
    });
  const removeSource = addCountersFrom(async () => mergeFamilies([retired, ...(await Promise.all(slots.map(countersOf)))]));

  const running = (c: ChildProcess | undefined): c is ChildProcess => c !== undefined && c.exitCode === null && c.signalCode === null && c.pid !== undefined;
  return {
    pids: () => slots.flatMap((s) => (running(s.child) ? [s.child.pid as number] : [])),
    async stop(ms) {
      stopping = true;
      removeSource();
      const exits = slots.map(
        (slot) =>
          new Promise<boolean>((resolve) => {
            const child = slot.child;
            if (!running(child)) return resolve(slot.child?.exitCode === 0);
            const kill = setTimeout(() => child.kill("SIGKILL"), ms);
            // A child that cannot be reaped even after SIGKILL does not hold the shutdown.
            const giveUp = setTimeout(() => resolve(false), ms + 2000);
            // Ended by this SIGTERM itself before it said it handles signals: it had not
            // loaded that far, so it had begun nothing (from that step on it keeps a
            // signal and stops cleanly once started). Any other death is an unclean stop.
            child.once("exit", (code, signal) => {
              clearTimeout(kill);
              clearTimeout(giveUp);
              resolve(code === 0 || (signal === "SIGTERM" && !slot.handlesSignals));
            });
            child.kill("SIGTERM");
          }),
      );
      if (!(await Promise.all(exits)).every(Boolean)) throw new Error("a worker process did not stop cleanly");
    },
  };
}

/** True in a worker child started by startWorkerChildren (with its IPC channel). */
export function isWorkerChild(): boolean {
  return process.env[CHILD_MARK] === "1" && typeof process.send === "function";
}

/** In a worker child, once its signal listeners are on: tells the parent (see stop()). */
export function tellParentSignalsHandled(): void {
  if (isWorkerChild()) process.send?.({ type: "hikyaku:signals" } satisfies SignalsHandled, undefined, {}, () => {});
}

/**
 * In a worker child: answers the parent's asks for this process's counters, and calls
 * `gone` when the parent is (the IPC channel closed). Nothing happens in any other process.
 */
export function serveParent(gone: () => void): void {
  if (!isWorkerChild()) return;
  process.on("message", (m: unknown) => {
    const ask = m as CountersAsk;
    if (ask?.type !== "hikyaku:counters?") return;
    process.send?.({ type: "hikyaku:counters", id: ask.id, families: instrumentFamilies() } satisfies CountersAnswer, undefined, {}, () => {});
  });
  process.once("disconnect", gone);
  // Gone already, while this process was still starting: the event was missed.
  if (!process.connected) gone();
}
