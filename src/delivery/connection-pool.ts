// Outbound SMTP connections, kept open and reused for many messages to the same
// destination address. Opportunistic STARTTLS: upgrade when offered, and fall back to
// plain text only when the TLS handshake itself fails, remembering that it did.
import SMTPConnection from "nodemailer/lib/smtp-connection";
import type { Target } from "./destination.ts";

export interface Lease {
  conn: SMTPConnection;
  target: Target;
  key: string;
  /** The session runs over TLS. */
  secure: boolean;
  /** STARTTLS was offered but its handshake failed, so this session is plain text. */
  tlsFellBack: boolean;
  reused: boolean;
  broken: boolean;
}

export interface PoolOptions {
  heloName: string;
  timeoutMs: number;
  idleMs?: number;
  /** Connections open at once to one destination address (default 16). */
  maxPerDestination?: number;
}

export class ConnectError extends Error {
  constructor(
    message: string,
    readonly smtpCode: string | undefined,
    readonly response: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What the pool knows of one destination (address, port, name, TLS mode). */
interface Destination {
  /** Connections open now: in use, idle, or being opened. */
  open: number;
  idle: { lease: Lease; timer: NodeJS.Timeout }[];
  /** Transactions waiting for a connection: handed one as soon as another transaction ends. */
  waiters: { resolve: (lease: Lease | undefined) => void; timer: NodeJS.Timeout }[];
}

/**
 * At most `maxPerDestination` connections to one destination. A transaction that finds
 * them all busy waits for the next one to come free and reuses it, rather than opening
 * (and then quitting) a connection of its own: under load that churn (TCP, greeting,
 * EHLO, STARTTLS, QUIT for each message) was most of the worker's work, and it is what
 * receiving servers count against a sender. A waiter that has waited a whole SMTP
 * timeout opens one anyway, so a stuck destination cannot hold the others back forever.
 */
export class ConnectionPool {
  private readonly destinations = new Map<string, Destination>();
  private closed = false;

  constructor(private readonly opts: PoolOptions) {}

  private get maxPerDestination(): number {
    return this.opts.maxPerDestination ?? 16;
  }

  /** A connection to the target: an idle one when there is one (unless `fresh`), else a new one. */
  async acquire(target: Target, tls: "opportunistic" | "required", fresh = false): Promise<Lease> {
    const key = `${target.ip}|${target.port}|${target.host}|${tls}`;
    const d = this.destination(key);
    if (!fresh) {
      const idle = this.takeIdle(d);
      if (idle) return idle;
      if (d.open >= this.maxPerDestination) {
        const handed = await new Promise<Lease | undefined>((resolve) => {
          const waiter = {
            resolve,
            timer: setTimeout(() => {
              d.waiters.splice(d.waiters.indexOf(waiter), 1);
              resolve(undefined);
            }, this.opts.timeoutMs),
          };
          d.waiters.push(waiter);
        });
        if (handed) return handed;
      }
    }
    if (this.closed) throw new ConnectError("the connection pool is closed", "ECONNECTION", undefined);
    // Looked up again: while this call waited, the entry may have been forgotten (freed()).
    this.destination(key).open++;
    try {
      return await this.open(target, key, tls);
    } catch (err) {
      this.freed(key);
      throw err;
    }
  }

  /**
   * Returns a connection after a transaction, to be reused; closed when broken. A
   * transaction the server refused is ended with RSET first; after a completed one the
   * next MAIL FROM may follow directly (RFC 5321 §4.1.4), saving a round trip.
   */
  release(lease: Lease, needsReset = false): void {
    if (lease.broken || this.closed) {
      this.discard(lease, "close");
      return;
    }
    if (!needsReset) {
      this.keep(lease);
      return;
    }
    lease.conn.reset((err) => {
      if (err || lease.broken || this.closed) {
        this.discard(lease, "close");
        return;
      }
      this.keep(lease);
    });
  }

  close(): void {
    this.closed = true;
    for (const d of this.destinations.values()) {
      for (const { lease, timer } of d.idle) {
        clearTimeout(timer);
        lease.conn.quit();
      }
      d.idle = [];
      for (const w of d.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.resolve(undefined);
      }
    }
  }

  private destination(key: string): Destination {
    let d = this.destinations.get(key);
    if (!d) {
      d = { open: 0, idle: [], waiters: [] };
      this.destinations.set(key, d);
    }
    return d;
  }

  private takeIdle(d: Destination): Lease | undefined {
    for (let entry = d.idle.pop(); entry; entry = d.idle.pop()) {
      clearTimeout(entry.timer);
      if (!entry.lease.broken) {
        entry.lease.reused = true;
        return entry.lease;
      }
      this.discard(entry.lease, "close");
    }
    return undefined;
  }

  /** A connection free again: to the longest waiter, else idle for a while, else quit. */
  private keep(lease: Lease): void {
    const d = this.destination(lease.key);
    const waiter = d.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      lease.reused = true;
      waiter.resolve(lease);
      return;
    }
    if (d.idle.length >= this.maxPerDestination) {
      this.discard(lease, "quit");
      return;
    }
    const entry = {
      lease,
      timer: setTimeout(() => {
        const i = d.idle.indexOf(entry);
        if (i >= 0) d.idle.splice(i, 1);
        this.discard(lease, "quit");
      }, this.opts.idleMs ?? 15_000),
    };
    entry.timer.unref();
    d.idle.push(entry);
  }

  private discard(lease: Lease, how: "quit" | "close"): void {
    if (how === "quit") lease.conn.quit();
    else lease.conn.close();
    this.freed(lease.key);
  }

  /** One connection fewer: a waiter may open its own now. */
  private freed(key: string): void {
    const d = this.destination(key);
    d.open--;
    const waiter = d.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(undefined);
    }
    // Forget a destination with nothing open, so a long-lived worker does not keep one
    // entry for every server it ever talked to.
    if (d.open <= 0 && d.idle.length === 0 && d.waiters.length === 0) this.destinations.delete(key);
  }

  private async open(target: Target, key: string, tls: "opportunistic" | "required"): Promise<Lease> {
    try {
      return await this.connect(target, key, tls, false);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (tls === "opportunistic" && code === "ETLS") return this.connect(target, key, tls, true);
      throw err;
    }
  }

  private connect(target: Target, key: string, tls: "opportunistic" | "required", plain: boolean): Promise<Lease> {
    const t = this.opts.timeoutMs;
    const conn = new SMTPConnection({
      host: target.ip,
      port: target.port,
      name: this.opts.heloName,
      servername: /^[\d.:]+$/.test(target.host) ? undefined : target.host,
      ignoreTLS: plain,
      requireTLS: tls === "required",
      opportunisticTLS: tls === "opportunistic",
      // MTA-to-MTA TLS is opportunistic: certificates are rarely verifiable (RFC 7435).
      tls: { rejectUnauthorized: false, minVersion: "TLSv1.2" },
      connectionTimeout: t,
      greetingTimeout: t,
      socketTimeout: t,
      allowInternalNetworkInterfaces: true,
      logger: false,
    });
    const lease: Lease = { conn, target, key, secure: false, tlsFellBack: plain, reused: false, broken: false };
    return new Promise<Lease>((resolve, reject) => {
      let settled = false;
      conn.on("error", (err: Error & { code?: string; response?: string }) => {
        lease.broken = true;
        if (!settled) {
          settled = true;
          reject(new ConnectError(err.message, err.code, err.response, { cause: err }));
        }
      });
      conn.on("end", () => {
        lease.broken = true;
        if (!settled) {
          settled = true;
          reject(new ConnectError("connection closed during the greeting", "ECONNECTION", undefined));
        }
      });
      conn.connect(() => {
        if (settled) return;
        settled = true;
        lease.secure = conn.secure;
        resolve(lease);
      });
    });
  }
}
