// Destination MX servers for tests: real smtp-server instances on loopback that record what they accept.
import net from "node:net";
import type { SecureVersion } from "node:tls";
import { generate } from "selfsigned";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";

export interface SinkMessage {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  secure: boolean;
  remoteAddress: string;
  receivedAt: number;
  /** The SMTP session (connection) it came over, and its transaction number there (1-based). */
  session: string;
  transaction: number;
}
/** undefined (or a code below 400) = accept. attempt = how many times this sink saw this rcpt at RCPT TO, 1-based. */
export type RcptRule = (rcpt: string, ctx: { attempt: number }) => { code: number; message: string } | undefined;
/** attempt = how many times this sink received DATA for this message (keyed by Message-ID, else by envelope), 1-based. */
export type DataRule = (msg: { envelope: { from: string; to: string[] }; raw: Buffer; attempt: number }) => { code: number; message: string } | undefined;
export interface SinkOptions {
  host?: string /* default 127.0.0.1; tests also use 127.0.0.2 etc */;
  port?: number /* default 0 */;
  starttls?: boolean /* default true: offer STARTTLS with a self-signed cert; false: no STARTTLS at all (the command is refused too) */;
  /** The STARTTLS certificate and protocol bounds, instead of the shared self-signed one (e.g. a test CA's, or maxVersion TLSv1.1 for a handshake that fails). */
  tls?: { key?: string; cert?: string; minVersion?: SecureVersion; maxVersion?: SecureVersion };
  onRcpt?: RcptRule;
  onData?: DataRule;
  dataDelayMs?: number /* wait before answering DATA */;
  /** Every DATA answer also waits for this (after dataDelayMs): a test holds the destination busy until it is ready. */
  holdData?: Promise<unknown>;
  greetingDelayMs?: number;
  size?: number;
  /** At MAIL FROM: true drops the connection there, without an answer (a server that had closed a reused connection). */
  dropAtMailFrom?: (ctx: { transaction: number }) => boolean;
}
export interface Sink {
  host: string;
  port: number;
  messages: SinkMessage[];
  connections: number /* total TCP connections accepted */;
  /** TCP connections open now, and the most there were at once. */
  openConnections: number;
  peakConnections: number;
  waitFor(n: number, timeoutMs?: number): Promise<SinkMessage[]>;
  close(): Promise<void>;
}

let certPromise: Promise<{ key: string; cert: string }> | undefined;
// Key generation takes a few hundred ms, so every sink in the process shares one certificate.
function testCert(): Promise<{ key: string; cert: string }> {
  certPromise ??= generate([{ name: "commonName", value: "sink.test" }], {
    keySize: 2048,
    notAfterDate: new Date(Date.now() + 7 * 86_400_000),
    algorithm: "sha256",
  }).then((p) => ({ key: p.private, cert: p.cert }));
  return certPromise;
}

export async function freePort(host = "127.0.0.1"): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((res, rej) => {
    srv.once("error", rej);
    srv.listen(0, host, () => res());
  });
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((res) => srv.close(() => res()));
  return port;
}

function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

export async function startSink(opts: SinkOptions = {}): Promise<Sink> {
  const host = opts.host ?? "127.0.0.1";
  const starttls = opts.starttls ?? true;
  const messages: SinkMessage[] = [];
  const rcptSeen = new Map<string, number>();
  const dataSeen = new Map<string, number>();
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const waiters = new Set<{
    n: number;
    resolve: (m: SinkMessage[]) => void;
    reject: (e: Error) => void;
    timer: NodeJS.Timeout;
  }>();
  let connections = 0;
  let open = 0;
  let peak = 0;
  let closed = false;
  let closing: Promise<void> | undefined;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const settleWaiters = () => {
    for (const w of waiters) {
      if (messages.length < w.n) continue;
      clearTimeout(w.timer);
      waiters.delete(w);
      w.resolve(messages.slice());
    }
  };

  const options: SMTPServerOptions = {
    authOptional: true,
    disableReverseLookup: true,
    logger: false,
    hideSTARTTLS: !starttls,
    // smtp-server still answers a hidden STARTTLS; a server "without STARTTLS" refuses it.
    ...(starttls ? {} : { disabledCommands: ["STARTTLS"] }),
    rejectOversized: opts.size !== undefined,
    ...(opts.size !== undefined ? { size: opts.size } : {}),
    ...(starttls ? { ...(await testCert()), ...opts.tls } : {}),
    onConnect(_session, callback) {
      if (opts.greetingDelayMs) later(opts.greetingDelayMs, () => callback());
      else callback();
    },
    onMailFrom(_address, session, callback) {
      if (opts.dropAtMailFrom?.({ transaction: session.transaction })) {
        for (const c of server.connections as Set<unknown>) {
          const conn = c as { id?: string; _socket?: net.Socket };
          if (conn.id === session.id) conn._socket?.destroy();
        }
        return;
      }
      callback();
    },
    onRcptTo(address, _session, callback) {
      const key = address.address.toLowerCase();
      const attempt = (rcptSeen.get(key) ?? 0) + 1;
      rcptSeen.set(key, attempt);
      const verdict = opts.onRcpt?.(address.address, { attempt });
      if (verdict && verdict.code >= 400) return callback(smtpError(verdict.code, verdict.message));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", (err) => callback(err));
      stream.on("end", () => {
        const raw = Buffer.concat(chunks);
        const mailFrom = session.envelope.mailFrom;
        const envelope = {
          from: mailFrom ? mailFrom.address : "",
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        const finish = () => {
          // smtp-server answers 552 on its own (rejectOversized); just don't record the message.
          if (stream.sizeExceeded) return callback();
          const headerEnd = raw.indexOf("\r\n\r\n");
          const head = raw.subarray(0, headerEnd < 0 ? raw.length : headerEnd).toString("latin1");
          const messageId = /^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)/im.exec(head)?.[1]?.trim();
          const key = messageId ? `id:${messageId}` : `env:${envelope.from}>${envelope.to.join(",")}`;
          const attempt = (dataSeen.get(key) ?? 0) + 1;
          dataSeen.set(key, attempt);
          const verdict = opts.onData?.({ envelope, raw, attempt });
          if (verdict && verdict.code >= 400) return callback(smtpError(verdict.code, verdict.message));
          messages.push({
            envelope,
            raw,
            secure: session.secure,
            remoteAddress: session.remoteAddress,
            receivedAt: Date.now(),
            session: session.id,
            transaction: session.transaction,
          });
          settleWaiters();
          callback(null, `OK: queued as sink-${messages.length}`);
        };
        const held = () => {
          if (opts.holdData) void opts.holdData.then(() => (closed ? undefined : finish()));
          else finish();
        };
        if (opts.dataDelayMs) later(opts.dataDelayMs, held);
        else held();
      });
    },
  };
  const server = new SMTPServer(options);

  // smtp-server holds every greeting back 100 ms to catch early talkers and has no option for it;
  // replace init() on this server's connections only, so other smtp-server users are unaffected.
  const conns = server.connections;
  const add = conns.add.bind(conns);
  conns.add = (conn) => {
    if (typeof conn._setListeners === "function" && typeof conn.connectionReady === "function") {
      conn.init = () => conn._setListeners(() => conn.connectionReady());
    }
    return add(conn);
  };
  server.on("error", () => {
    // client-side resets are routine in delivery tests; the sink must not crash the process
  });
  server.server.on("connection", (sock: net.Socket) => {
    connections++;
    open++;
    peak = Math.max(peak, open);
    sockets.add(sock);
    sock.on("close", () => {
      open--;
      sockets.delete(sock);
    });
  });

  await new Promise<void>((res, rej) => {
    server.server.once("error", rej);
    server.listen(opts.port ?? 0, host, () => {
      server.server.off("error", rej);
      res();
    });
  });
  const port = (server.server.address() as net.AddressInfo).port;

  return {
    host,
    port,
    messages,
    get connections() {
      return connections;
    },
    get openConnections() {
      return open;
    },
    get peakConnections() {
      return peak;
    },
    waitFor(n, timeoutMs = 10_000) {
      if (messages.length >= n) return Promise.resolve(messages.slice());
      if (closed) return Promise.reject(new Error(`sink ${host}:${port} is closed; it has ${messages.length} of ${n} messages`));
      return new Promise((resolve, reject) => {
        const w = {
          n,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(w);
            reject(
              new Error(
                `sink ${host}:${port}: expected ${n} message(s) within ${timeoutMs} ms, got ${messages.length} ` + `(${connections} connection(s) accepted)`,
              ),
            );
          }, timeoutMs),
        };
        waiters.add(w);
      });
    },
    close() {
      closing ??= shutdown();
      return closing;
    },
  };

  async function shutdown(): Promise<void> {
    closed = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const w of waiters) {
      clearTimeout(w.timer);
      w.reject(new Error(`sink ${host}:${port} closed while waiting for ${w.n} message(s); got ${messages.length}`));
    }
    waiters.clear();
    const done = new Promise<void>((res) => server.close(() => res()));
    // server.close() would wait for sessions to finish; tests want the port gone now.
    for (const s of sockets) s.destroy();
    await done;
  }
}
