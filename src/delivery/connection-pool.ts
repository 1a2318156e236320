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
  maxIdlePerKey?: number;
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

export class ConnectionPool {
  private readonly idle = new Map<string, { lease: Lease; timer: NodeJS.Timeout }[]>();
  private closed = false;

  constructor(private readonly opts: PoolOptions) {}

  /** A connection to the target: an idle one when there is one (unless `fresh`), else a new one. */
  async acquire(target: Target, tls: "opportunistic" | "required", fresh = false): Promise<Lease> {
    const key = `${target.ip}|${target.port}|${target.host}|${tls}`;
    const list = fresh ? undefined : this.idle.get(key);
    while (list && list.length > 0) {
      const entry = list.pop();
      if (!entry) break;
      clearTimeout(entry.timer);
      if (!entry.lease.broken) {
        entry.lease.reused = true;
        return entry.lease;
      }
    }
    return this.open(target, key, tls);
  }

  /**
   * Returns a connection after a transaction, to be reused; closed when broken. A
   * transaction the server refused is ended with RSET first; after a completed one the
   * next MAIL FROM may follow directly (RFC 5321 §4.1.4), saving a round trip.
   */
  release(lease: Lease, needsReset = false): void {
    if (lease.broken || this.closed) {
      lease.conn.close();
      return;
    }
    if (!needsReset) {
      this.keep(lease);
      return;
    }
    lease.conn.reset((err) => {
      if (err || lease.broken || this.closed) {
        lease.conn.close();
        return;
      }
      this.keep(lease);
    });
  }

  private keep(lease: Lease): void {
    const list = this.idle.get(lease.key) ?? [];
    if (list.length >= (this.opts.maxIdlePerKey ?? 16)) {
      lease.conn.quit();
      return;
    }
    const entry = {
      lease,
      timer: setTimeout(() => {
        const i = list.indexOf(entry);
        if (i >= 0) list.splice(i, 1);
        lease.conn.quit();
      }, this.opts.idleMs ?? 15_000),
    };
    entry.timer.unref();
    list.push(entry);
    this.idle.set(lease.key, list);
  }

  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) {
      for (const { lease, timer } of list) {
        clearTimeout(timer);
        lease.conn.quit();
      }
    }
    this.idle.clear();
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
