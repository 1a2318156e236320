// Outbound SMTP connections, kept open and reused for many messages to the same
// destination address, in one of three TLS modes:
// - opportunistic: upgrade when STARTTLS is offered, and fall back to plain text only
//   when the TLS handshake itself fails, remembering that it did;
// - required: TLS or no session, certificate not checked (Postfix's "encrypt" level);
// - verified: TLS with a certificate valid for the MX host name, chained to a trusted
//   root (MTA-STS `enforce`, RFC 8461 §4.2).
// Connections of different modes never share a pool entry, so a reused connection never
// crosses policies.
import tls from "node:tls";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { trustedCas } from "../net/outbound-trust.ts";
import { certificateError, handshakeError, isUpgrading } from "./nodemailer-tls.ts";
import type { Target } from "./destination.ts";

export type ConnectionTls = "opportunistic" | "required" | "verified";

export interface Lease {
  conn: SMTPConnection;
  target: Target;
  key: string;
  /** The session runs over TLS. */
  secure: boolean;
  /** STARTTLS was offered but its handshake failed, so this session is plain text. */
  tlsFellBack: boolean;
  /** Why it fell back (the handshake error), when it did. */
  fallbackReason?: string;
  /**
   * Whether the certificate is valid for the host name and chains to a trusted root
   * (checked on every TLS session, enforced only in `verified` mode); null: no TLS.
   */
  certificateError: string | null;
  reused: boolean;
  broken: boolean;
}

export interface PoolOptions {
  heloName: string;
  timeoutMs: number;
  idleMs?: number;
  /** Connections open at once to one destination address (default 16). */
  maxPerDestination?: number;
  /** CA certificates (PEM) trusted besides the system's roots (HIKYAKU_OUTBOUND_CA_FILE). */
  extraCa?: string[];
}

export class ConnectError extends Error {
  constructor(
    message: string,
    readonly smtpCode: string | undefined,
    readonly response: string | undefined,
    options?: { cause?: unknown; command?: string },
  ) {
    super(message, options);
    this.command = options?.command;
  }
  /** The SMTP command that failed (EHLO, STARTTLS, …), when the session got that far. */
  readonly command: string | undefined;
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
  /** One context for every session: building one per connection would parse the roots each time. */
  private readonly secureContext: tls.SecureContext;

  constructor(private readonly opts: PoolOptions) {
    const ca = trustedCas(opts.extraCa);
    this.secureContext = tls.createSecureContext({ minVersion: "TLSv1.2", ...(ca ? { ca } : {}) });
  }

  private get maxPerDestination(): number {
    return this.opts.maxPerDestination ?? 16;
  }

  /** A connection to the target: an idle one when there is one (unless `fresh`), else a new one. */
  async acquire(target: Target, tls: ConnectionTls, fresh = false): Promise<Lease> {
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

  private async open(target: Target, key: string, mode: ConnectionTls): Promise<Lease> {
    let lease: Lease;
    try {
      lease = await this.connect(target, key, mode, false);
    } catch (err) {
      const e = err as ConnectError;
      if (mode !== "opportunistic" || e.smtpCode !== "ETLS") throw err;
      lease = await this.connect(target, key, mode, true);
      lease.fallbackReason = e.message;
    }
    // nodemailer is asked for TLS in these modes; this makes sure nothing is sent without it.
    const refused = mode === "opportunistic" ? undefined : !lease.secure ? "the session is not encrypted" : mode === "verified" ? lease.certificateError : null;
    if (refused) {
      lease.conn.close();
      throw new ConnectError(refused, "ETLS", undefined);
    }
    return lease;
  }

  private connect(target: Target, key: string, mode: ConnectionTls, plain: boolean): Promise<Lease> {
    const t = this.opts.timeoutMs;
    const conn = new SMTPConnection({
      host: target.ip,
      port: target.port,
      name: this.opts.heloName,
      // The MX host name: SNI, and the name the certificate is checked against.
      servername: /^[\d.:]+$/.test(target.host) ? undefined : target.host,
      ignoreTLS: plain,
      requireTLS: mode !== "opportunistic",
      opportunisticTLS: mode === "opportunistic",
      // MTA-to-MTA TLS is opportunistic: certificates are rarely verifiable (RFC 7435).
      // Only an MTA-STS enforce policy makes the destination promise a valid one.
      tls: { secureContext: this.secureContext, rejectUnauthorized: mode === "verified" },
      connectionTimeout: t,
      greetingTimeout: t,
      socketTimeout: t,
      allowInternalNetworkInterfaces: true,
      logger: false,
    });
    const lease: Lease = { conn, target, key, secure: false, tlsFellBack: plain, certificateError: null, reused: false, broken: false };
    return new Promise<Lease>((resolve, reject) => {
      let settled = false;
      conn.on("error", (err: Error & { code?: string; response?: string; command?: string }) => {
        lease.broken = true;
        if (!settled) {
          settled = true;
          // A handshake that fails reaches nodemailer as a socket error (ESOCKET); it is still the TLS stage.
          const tlsStage = isUpgrading(conn);
          const message = tlsStage ? handshakeError(err) : err.message;
          reject(new ConnectError(message, tlsStage ? "ETLS" : err.code, err.response, { cause: err, command: err.command }));
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
        lease.certificateError = conn.secure ? certificateError(conn, target.host) : null;
        resolve(lease);
      });
    });
  }
}
