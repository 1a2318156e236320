// A bare SMTP client for tests that must send exactly the bytes they mean (smuggling
// payloads, pipelined commands), which nodemailer rightly refuses to produce.
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";

export interface Reply {
  code: number;
  /** Every line of the reply, joined by "\n", codes included. */
  text: string;
}

export interface RawSmtp {
  greeting: Reply;
  /** Writes one command line (CRLF added) and waits for its reply. */
  command(line: string): Promise<Reply>;
  /** Writes bytes as they are. */
  write(data: string | Buffer): void;
  /** The next reply not yet read. */
  reply(timeoutMs?: number): Promise<Reply>;
  starttls(): Promise<void>;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
  close(): void;
}

export interface RawOptions {
  port: number;
  host?: string;
  localAddress?: string;
  /** Implicit TLS (the SMTPS port). */
  tls?: boolean;
}

export async function rawSmtp(opts: RawOptions): Promise<RawSmtp> {
  const host = opts.host ?? "127.0.0.1";
  const local = opts.localAddress ? { localAddress: opts.localAddress } : {};
  let socket: net.Socket = opts.tls
    ? tls.connect({ host, port: opts.port, ...local, rejectUnauthorized: false })
    : net.connect({ host, port: opts.port, ...local });
  let buffer = "";
  const replies: Reply[] = [];
  const waiters: ((r: Reply) => void)[] = [];
  let lines: string[] = [];
  let closed = false;
  let onClosed: () => void = () => {};
  const closedPromise = new Promise<void>((r) => (onClosed = r));

  const onData = (chunk: Buffer) => {
    buffer += chunk.toString("latin1");
    for (let i = buffer.indexOf("\r\n"); i !== -1; i = buffer.indexOf("\r\n")) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      lines.push(line);
      if (line.length <= 3 || line[3] === " ") {
        const reply = { code: Number(line.slice(0, 3)), text: lines.join("\n") };
        lines = [];
        const w = waiters.shift();
        if (w) w(reply);
        else replies.push(reply);
      }
    }
  };
  const attach = (s: net.Socket) => {
    s.on("data", onData);
    s.on("error", () => {});
    s.on("close", () => {
      closed = true;
      onClosed();
    });
  };
  attach(socket);

  const reply = (timeoutMs = 10_000) =>
    new Promise<Reply>((resolve, reject) => {
      const ready = replies.shift();
      if (ready) return resolve(ready);
      if (closed) return reject(new Error("the server closed the connection"));
      const timer = setTimeout(() => reject(new Error(`no SMTP reply within ${timeoutMs} ms`)), timeoutMs);
      waiters.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
      void closedPromise.then(() => {
        clearTimeout(timer);
        reject(new Error("the server closed the connection"));
      });
    });

  const greeting = await reply();
  const client: RawSmtp = {
    greeting,
    write: (data) => socket.write(data),
    reply,
    async command(line) {
      socket.write(`${line}\r\n`);
      return reply();
    },
    async starttls() {
      const r = await client.command("STARTTLS");
      if (r.code !== 220) throw new Error(`STARTTLS refused: ${r.text}`);
      socket.removeListener("data", onData);
      const secure = tls.connect({ socket, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => {
        secure.once("secureConnect", () => resolve());
        secure.once("error", reject);
      });
      secure.on("data", onData);
      socket = secure;
    },
    closed: closedPromise,
    isClosed: () => closed,
    close: () => socket.destroy(),
  };
  return client;
}

/** The error a nodemailer client call was refused with; fails the test if it was not refused. */
export async function refusal(p: Promise<unknown>): Promise<{ responseCode: number; response: string }> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as { responseCode: number; response: string } | undefined;
  assert.ok(err, "the server refused");
  return err;
}
