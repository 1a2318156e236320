// The destination of every bench run: Postfix's smtp-sink on 127.0.0.2, the same one for
// Hikyaku and for Postfix, so both are measured to the same finishing line. Its running
// counter (-c: "sess=… quit=… mesg=…" after every message) is read from its stdout, so
// "delivered" means counted at the sink, not written in our own log.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";

export const SMTP_SINK = "/usr/sbin/smtp-sink";

export interface SmtpSink {
  host: string;
  port: number;
  pid: number | undefined;
  /** Messages received so far (each "." answered). */
  count(): number;
  /** Resolves with performance.now() of the moment the count reached `n`, or undefined at the deadline. */
  waitFor(n: number, deadline: number): Promise<number | undefined>;
  stop(): Promise<void>;
}

export async function startSmtpSink(host: string, port: number): Promise<SmtpSink> {
  if (!existsSync(SMTP_SINK)) throw new Error(`${SMTP_SINK} is missing: install Debian's postfix package (apt-get install postfix), which ships it.`);
  // As root smtp-sink must drop to another user after binding (-u).
  const user = os.userInfo().uid === 0 ? ["-u", "nobody"] : [];
  const child: ChildProcess = spawn(SMTP_SINK, ["-c", ...user, `${host}:${port}`, "1024"], { stdio: ["ignore", "pipe", "pipe"] });
  let count = 0;
  let stderr = "";
  const waiters: { n: number; resolve: (at: number) => void }[] = [];
  child.stdout?.on("data", (chunk: Buffer) => {
    const text = chunk.toString("latin1");
    const i = text.lastIndexOf("mesg=");
    if (i === -1) return;
    count = Math.max(count, Number.parseInt(text.slice(i + 5), 10) || 0);
    const at = performance.now();
    for (const w of waiters.filter((x) => x.n <= count)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(at);
    }
  });
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await waitListening(host, port, exited, () => stderr);
  return {
    host,
    port,
    pid: child.pid,
    count: () => count,
    waitFor(n, deadline) {
      if (count >= n) return Promise.resolve(performance.now());
      return new Promise((resolve) => {
        const w = {
          n,
          resolve: (at: number) => {
            clearTimeout(timer);
            resolve(at);
          },
        };
        const timer = setTimeout(
          () => {
            waiters.splice(waiters.indexOf(w), 1);
            resolve(undefined);
          },
          Math.max(0, deadline - performance.now()),
        );
        waiters.push(w);
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    },
  };
}

async function waitListening(host: string, port: number, exited: Promise<void>, stderr: () => string): Promise<void> {
  const net = await import("node:net");
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 100; i++) {
    if (gone) throw new Error(`smtp-sink exited at start: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`smtp-sink did not listen on ${host}:${port}: ${stderr()}`);
}
