// What one SMTP session costs the intake's library, apart from Hikyaku's work: server CPU
// per connection for a one-message-per-connection client (EHLO, MAIL, RCPT, DATA, the
// message, QUIT, each awaited), against smtp-server through Hikyaku's IntakeServer
// adapter with handlers that do nothing, and against a bare socket server answering the
// same dialogue. The client runs in a child process, 20 sessions at once; the figure is
// the server process's own CPU (process.cpuUsage) over the connections.
//
//   node --import tsx test/bench/smtp-session-cost.ts [--connections 8000] [--runs 3]
import { fork } from "node:child_process";
import net, { type AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { SMTPServerDataStream } from "smtp-server";
import { IntakeServer } from "../../src/smtp/intake-server.ts";

const { values: args } = parseArgs({
  options: { connections: { type: "string", default: "8000" }, runs: { type: "string", default: "3" }, client: { type: "string" } },
});

const DIALOGUE = [
  "EHLO bench.test\r\n",
  "MAIL FROM:<a@shop.example>\r\n",
  "RCPT TO:<b@dest.example>\r\n",
  "DATA\r\n",
  `Subject: x\r\n\r\n${"x".repeat(900)}\r\n.\r\n`,
  "QUIT\r\n",
];

/** The child: N sessions, 20 at once, each line sent after the reply to the last. */
async function client(port: number, n: number): Promise<void> {
  let next = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1");
      let buf = "";
      let step = 0;
      s.setTimeout(10_000, () => s.destroy(new Error("session timed out")));
      s.on("data", (d) => {
        buf += d.toString("latin1");
        if (!/(^|\n)\d{3} [^\n]*\r\n$/.test(buf)) return;
        buf = "";
        const line = DIALOGUE[step++];
        if (line) s.write(line);
      });
      s.on("close", () => resolve());
      s.on("error", reject);
    });
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < n) {
        next++;
        await one();
      }
    }),
  );
}

/** A server that answers the dialogue and nothing else: the floor of what a session costs. */
function bareServer(): net.Server {
  return net.createServer((s) => {
    s.write("220 bench ESMTP\r\n");
    let inData = false;
    let buf = "";
    s.on("error", () => {});
    s.on("data", (d) => {
      buf += d.toString("latin1");
      for (;;) {
        if (inData) {
          const end = buf.indexOf("\r\n.\r\n");
          if (end < 0) return;
          buf = buf.slice(end + 5);
          inData = false;
          s.write("250 2.0.0 Ok: queued\r\n");
          continue;
        }
        const eol = buf.indexOf("\r\n");
        if (eol < 0) return;
        const verb = buf.slice(0, 4).toUpperCase();
        buf = buf.slice(eol + 2);
        if (verb === "EHLO") s.write("250-bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10240000\r\n");
        else if (verb === "DATA") {
          inData = true;
          s.write("354 End data with <CR><LF>.<CR><LF>\r\n");
        } else if (verb === "QUIT") s.end("221 Bye\r\n");
        else s.write("250 2.1.0 Ok\r\n");
      }
    });
  });
}

function intakeServer(): net.Server {
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
  return server.server;
}

async function measure(kind: "bare" | "smtp-server", n: number): Promise<number> {
  const server = kind === "bare" ? bareServer() : intakeServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const before = process.cpuUsage();
  const child = fork(fileURLToPath(import.meta.url), ["--client", String(port), "--connections", String(n)], {
    execArgv: ["--import", "tsx"],
    stdio: "inherit",
  });
  const code = await new Promise<number | null>((r) => child.once("exit", r));
  const used = process.cpuUsage(before);
  await new Promise<void>((r) => server.close(() => r()));
  if (code !== 0) throw new Error(`the client exited with ${code}`);
  return (used.user + used.system) / 1000 / n;
}

if (args.client) {
  await client(Number(args.client), Number(args.connections));
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
