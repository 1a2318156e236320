// What one SMTP session costs the intake's library, apart from Hikyaku's work: server CPU
// per connection for a one-message-per-connection client (EHLO, MAIL, RCPT, DATA, the
// message, QUIT, each awaited: the bench's own per-message client, smtp-intake.ts),
// against smtp-server through Hikyaku's IntakeServer adapter with handlers that do
// nothing, and against the bench's bare socket sink (light-sink.ts) answering the same
// dialogue. The client runs in a child process, 20 sessions at once; the figure is the
// server process's own CPU (process.cpuUsage) over the connections.
//
//   node --import tsx test/bench/smtp-session-cost.ts [--connections 8000] [--runs 3]
import { fork } from "node:child_process";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { SMTPServerDataStream } from "smtp-server";
import { IntakeServer } from "../../src/smtp/intake-server.ts";
import { startLightSink } from "./light-sink.ts";
import { benchSmtpIntake } from "./smtp-intake.ts";

const { values: args } = parseArgs({
  options: { connections: { type: "string", default: "8000" }, runs: { type: "string", default: "3" }, client: { type: "string" } },
});

/** smtp-server through Hikyaku's adapter, storing nothing; resolves with its port and a close. */
async function intakeServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = new IntakeServer(
    {
      greetingDelayMs: () => 0,
      authOptional: true,
      disabledCommands: ["AUTH"],
      disableReverseLookup: true,
      logger: false,
      onData(stream: SMTPServerDataStream, _session, cb) {
        stream.on("data", () => {});
        stream.on("end", () => cb(null, "2.0.0 Ok: queued"));
      },
    },
    60_000,
  );
  await new Promise<void>((r) => server.server.listen(0, "127.0.0.1", r));
  return { port: (server.server.address() as AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function measure(kind: "bare" | "smtp-server", n: number): Promise<number> {
  const server = kind === "bare" ? await startLightSink() : await intakeServer();
  const before = process.cpuUsage();
  const child = fork(fileURLToPath(import.meta.url), ["--client", String(server.port), "--connections", String(n)], {
    execArgv: ["--import", "tsx"],
    stdio: "inherit",
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  const used = process.cpuUsage(before);
  await server.close();
  if (code !== 0) throw new Error(`the client exited with ${code}`);
  return (used.user + used.system) / 1000 / n;
}

if (args.client) {
  const r = await benchSmtpIntake({ host: "127.0.0.1", port: Number(args.client), count: Number(args.connections), connections: 20, mode: "per-message" });
  if (r.refused > 0) throw new Error(`${r.refused} sessions refused: ${r.firstRefusal}`);
  process.exit(0);
} else {
  const n = Number(args.connections);
  const results: Record<string, number[]> = { bare: [], "smtp-server": [] };
  for (let i = 0; i < Number(args.runs); i++) {
    for (const kind of ["bare", "smtp-server"] as const) {
      const ms = await measure(kind, n);
      results[kind]?.push(ms);
      console.log(`run ${i + 1} ${kind}: ${ms.toFixed(3)} ms of server CPU per connection`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  console.log(JSON.stringify({ connections: n, bare_ms: median(results.bare ?? []), smtp_server_ms: median(results["smtp-server"] ?? []) }));
}
