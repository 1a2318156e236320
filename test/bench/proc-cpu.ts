// CPU seconds from /proc, for the bench's CPU-per-message figures: one process, or a
// process with all its descendants (PostgreSQL's backends, Postfix's daemons), counting
// the children that already exited and were reaped (cutime/cstime).
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
