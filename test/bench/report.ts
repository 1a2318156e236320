// What `npm run bench` prints: a line per phase as it ends (stderr), then the table of
// medians with their spread, the ratios to Postfix, and CPU per message (stdout), and
// the whole result as JSON for the record.
import { machineCores } from "./proc-cpu.ts";

export type Door = "http" | "smtp-reuse" | "smtp-per-message";

export interface PhaseResult {
  system: string;
  door: Door;
  run: number;
  messages: number;
  accepted: number;
  failed: number;
  firstFailure?: string;
  timedOut: boolean;
  acceptedPerSec: number;
  deliveredPerSec: number;
  p50?: number;
  p99?: number;
  /** CPU milliseconds per delivered message, by process (or process group). */
  cpuMsPerMsg: Record<string, number>;
  /**
   * The whole machine over the phase: cores kept busy by anything (of all of them), and the
   * share of the cores' time the hypervisor gave to other guests. A phase near all cores
   * is bound by them; a high steal says the host, not the code, slowed that run.
   */
  machine?: { busyCores: number; stealPct: number };
  /** With --webhook: webhooks received for this phase's deliveries, and the time from each delivery event to its arrival (ms). */
  webhooks?: { received: number; p50?: number; p99?: number };
}

const DOOR_NAMES: Record<Door, string> = {
  http: "HTTP door (50 concurrent POSTs)",
  "smtp-reuse": "SMTP relay, 20 reused connections",
  "smtp-per-message": "SMTP relay, 1 connection per message (20 at once)",
};

export function printRun(phases: PhaseResult[]): void {
  for (const p of phases) {
    const lat = p.p99 === undefined ? "" : ` p50 ${p.p50} ms p99 ${p.p99} ms`;
    const hooks = p.webhooks ? `; webhooks ${p.webhooks.received}, p50 ${p.webhooks.p50} ms p99 ${p.webhooks.p99} ms after the event` : "";
    const bad = `${hooks}${p.failed ? ` FAILED ${p.failed}: ${p.firstFailure}` : ""}${p.timedOut ? " TIMED OUT" : ""}`;
    const cpu = Object.entries(p.cpuMsPerMsg)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    const machine = p.machine ? `; machine: ${p.machine.busyCores} cores busy, steal ${p.machine.stealPct}%` : "";
    console.error(
      `run ${p.run} ${p.system} ${p.door}: ${p.deliveredPerSec} delivered/s (${p.acceptedPerSec} accepted/s)${lat}; CPU ms/msg: ${cpu}${machine}${bad}`,
    );
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

/** A median with its spread (min-max), rounded to `digits` decimals. */
function cell(xs: number[], digits = 0): string {
  if (xs.length === 0) return "—";
  const m = digits === 0 ? String(Math.round(median(xs))) : median(xs).toFixed(digits);
  return xs.length === 1 ? m : `${m} (${Math.min(...xs)}–${Math.max(...xs)})`;
}

export function printSummary(all: PhaseResult[], info: { messages: number; runs: number; concurrency: number; connections: number }): void {
  const systems = [...new Set(all.map((p) => p.system))];
  const hikyaku = systems.filter((s) => s.startsWith("Hikyaku"));
  const postfix = systems.find((s) => s.startsWith("Postfix"));
  const doors = [...new Set(all.map((p) => p.door))];
  const of = (system: string, door: Door) => all.filter((p) => p.system === system && p.door === door && !p.timedOut && p.failed === 0);
  const rate = (system: string, door: Door) => of(system, door).map((p) => p.deliveredPerSec);
  // The HTTP door has no Postfix twin: it is held against Postfix's faster SMTP mode.
  const postfixFor = (door: Door): number | undefined => {
    if (!postfix) return undefined;
    const ms = (door === "http" ? (["smtp-reuse", "smtp-per-message"] as Door[]) : [door]).map((d) => median(rate(postfix, d))).filter((x) => !Number.isNaN(x));
    return ms.length ? Math.max(...ms) : undefined;
  };
  const head = [
    "door / mode",
    ...hikyaku.map((h) => `${h} delivered/s`),
    ...(postfix ? [`${postfix} delivered/s`] : []),
    ...hikyaku.map((h) => `ratio ${h.replace("Hikyaku ", "")}/Postfix`),
    "API p99 ms",
  ];
  const rows = doors.map((door) => {
    const pf = postfixFor(door);
    const p99 = hikyaku.map((h) => median(of(h, door).flatMap((p) => (p.p99 === undefined ? [] : [p.p99])))).filter((x) => !Number.isNaN(x));
    return [
      DOOR_NAMES[door],
      ...hikyaku.map((h) => cell(rate(h, door))),
      ...(postfix ? [door === "http" ? `(${pf ?? "—"}, best SMTP mode)` : cell(rate(postfix, door))] : []),
      ...hikyaku.map((h) => (pf ? `${(median(rate(h, door)) / pf).toFixed(2)}×` : "—")),
      p99.length ? p99.map((x) => x.toFixed(0)).join(" / ") : "—",
    ];
  });
  console.log(`\n${info.runs} run(s) of ${info.messages} messages of 1 KB per door and mode; median (min–max) delivered/s, counted at smtp-sink.`);
  console.log(table(head, rows));
  const stages = [...new Set(all.flatMap((p) => Object.keys(p.cpuMsPerMsg)))];
  const cpuRows = systems.flatMap((s) =>
    doors
      .filter((d) => of(s, d).length)
      .map((d) => [
        `${s} ${d}`,
        ...stages.map((k) => (of(s, d).some((p) => k in p.cpuMsPerMsg) ? median(of(s, d).map((p) => p.cpuMsPerMsg[k] ?? 0)).toFixed(2) : "—")),
        cell(
          of(s, d).flatMap((p) => (p.machine ? [p.machine.busyCores] : [])),
          2,
        ),
        cell(
          of(s, d).flatMap((p) => (p.machine ? [p.machine.stealPct] : [])),
          2,
        ),
      ]),
  );
  console.log(`\nCPU milliseconds per message (median), by process; the machine's busy cores (of ${machineCores()}) and steal % (median, min–max):`);
  console.log(table(["system door", ...stages, "busy cores", "steal %"], cpuRows));
  const failed = all.filter((p) => p.timedOut || p.failed);
  for (const p of failed)
    console.log(`not counted: run ${p.run} ${p.system} ${p.door}: ${p.failed} failed (${p.firstFailure ?? ""})${p.timedOut ? ", timed out" : ""}`);
  console.log(`\n${JSON.stringify({ ...info, phases: all })}`);
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(" | ")} |`;
  return [line(head), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}
