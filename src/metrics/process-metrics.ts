// The process metrics every Prometheus client library exports (process_*, nodejs_*),
// under the same names, so that dashboards built for them work.
import { readdirSync, readFileSync } from "node:fs";
import type { Family } from "./exposition.ts";

const startTime = Date.now() / 1000 - process.uptime();

export function processFamilies(): Family[] {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const gauge = (name: string, help: string, value: number): Family => ({ name, help, type: "gauge", samples: [{ value }] });
  const counter = (name: string, help: string, value: number): Family => ({ name, help, type: "counter", samples: [{ value }] });
  const families = [
    counter("process_cpu_user_seconds_total", "User CPU time spent, in seconds.", cpu.user / 1e6),
    counter("process_cpu_system_seconds_total", "System CPU time spent, in seconds.", cpu.system / 1e6),
    counter("process_cpu_seconds_total", "User and system CPU time spent, in seconds.", (cpu.user + cpu.system) / 1e6),
    gauge("process_resident_memory_bytes", "Resident memory size, in bytes.", mem.rss),
    gauge("process_start_time_seconds", "Start time of the process since 1970, in seconds.", startTime),
    gauge("nodejs_heap_size_total_bytes", "V8 heap size, in bytes.", mem.heapTotal),
    gauge("nodejs_heap_size_used_bytes", "V8 heap in use, in bytes.", mem.heapUsed),
    gauge("nodejs_external_memory_bytes", "Memory of C++ objects bound to JavaScript objects, in bytes.", mem.external),
  ];
  const fds = openFds();
  if (fds !== undefined) families.push(gauge("process_open_fds", "Open file descriptors.", fds));
  const max = maxFds();
  if (max !== undefined) families.push(gauge("process_max_fds", "Maximum number of open file descriptors.", max));
  return families;
}

/** Linux only (/proc); elsewhere the series is left out rather than faked. */
function openFds(): number | undefined {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return undefined;
  }
}

function maxFds(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m?.[1] ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
