// CPU seconds from /proc, for the bench's CPU-per-message figures: one process, or a
// process with all its descendants (PostgreSQL's backends, Postfix's daemons), counting
// the children that already exited and were reaped (cutime/cstime); and the whole
// machine's, to tell a phase bound by its cores from one that waited on something else.
import { readdirSync, readFileSync } from "node:fs";

const TICK = 100; // USER_HZ on Linux

interface Stat {
  pid: number;
  ppid: number;
  self: number;
  reaped: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // after the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 1-based from state = field 3
    return { pid, ppid: Number(f[1]), self: (Number(f[11]) + Number(f[12])) / TICK, reaped: (Number(f[13]) + Number(f[14])) / TICK };
  } catch {
    return undefined;
  }
}

/** CPU seconds of one process (its own, not its children's). */
export function cpuOf(pid: number | undefined): number {
  return pid === undefined ? 0 : (stat(pid)?.self ?? 0);
}

/** CPU seconds of a process tree: the root, its living descendants, and every child reaped so far. */
export function cpuOfTree(root: number | undefined): number {
  if (root === undefined) return 0;
  const all = readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map((d) => stat(Number(d)))
    .filter((s): s is Stat => s !== undefined);
  const children = new Map<number, Stat[]>();
  for (const s of all) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const top = all.find((s) => s.pid === root);
  if (!top) return 0;
  let total = 0;
  const stack = [top];
  for (let s = stack.pop(); s; s = stack.pop()) {
    total += s.self + s.reaped;
    stack.push(...(children.get(s.pid) ?? []));
  }
  return total;
}

/** CPU seconds of this (the load generator's) process. */
export function cpuOfSelf(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** The machine's CPU seconds since boot, summed over its cores (/proc/stat). */
export interface MachineCpu {
  /** Running anything: user, nice, system, irq, softirq (guest time is inside user). */
  busy: number;
  /** Taken by the hypervisor for other guests while this machine had work for the core. */
  steal: number;
  /** Everything, idle and iowait included. */
  total: number;
}

export function machineCpu(): MachineCpu {
  const f = (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  const busy = user + nice + system + irq + softirq;
  return { busy: busy / TICK, steal: steal / TICK, total: (busy + idle + iowait + steal) / TICK };
}

/** The machine's online cores, as /proc/stat counts them (its first line sums over these). */
export function machineCores(): number {
  return readFileSync("/proc/stat", "utf8")
    .split("\n")
    .filter((l) => /^cpu\d+ /.test(l)).length;
}

/** Over an interval: cores kept busy on average (of machineCores()), and the share of the cores' time stolen. */
export function machineUse(before: MachineCpu, after: MachineCpu): { busyCores: number; stealPct: number } {
  const total = after.total - before.total;
  if (total <= 0) return { busyCores: 0, stealPct: 0 };
  const cores = machineCores();
  return {
    busyCores: Number((((after.busy - before.busy) / total) * cores).toFixed(2)),
    stealPct: Number((((after.steal - before.steal) / total) * 100).toFixed(1)),
  };
}
