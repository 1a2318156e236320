// Outbound SMTP connections, kept open and reused for many messages to the same
// destination address, in one of three TLS modes:
// - opportunistic: upgrade when STARTTLS is offered, and fall back to plain text only
//   when the TLS handshake itself fails, remembering that it did;
// - required: TLS or no session, certificate not checked (Postfix's "encrypt" level);
// - verified: TLS with a certificate valid for the MX host name, chained to a trusted
//   root (MTA-STS `enforce`, RFC 8461 §4.2).
// Connections of different modes never share a pool entry, so a reused connection never
// crosses policies.
import { setTimeout as sleep } from "node:timers/promises";
import tls from "node:tls";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import { trustedCas } from "../net/outbound-trust.ts";
import type { Target } from "./destination.ts";
import { certificateError, handshakeError, isUpgrading, startTlsRefusalWatcher } from "./nodemailer-tls.ts";

export type ConnectionTls = "opportunistic" | "required" | "verified";

export interface Lease {
  conn: SMTPConnection;
  target: Target;
  /** The destination address, port, name and TLS mode: an idle connection is reused only for the same. */
  key: string;
  /** The budget the connection counts against (Budget.key). */
  budget: string;
  /** The connection slot leased for it across processes (SlotLeaser), if any. */
  slot: number | undefined;
  /** Transactions sent over it so far. */
  transactions: number;
  /** Close it after its transaction: another process wants the slot. */
  retire: boolean;
  /** The session runs over TLS. */
  secure: boolean;
  /** STARTTLS was offered but its handshake failed, so this session is plain text. */
  tlsFellBack: boolean;
  /** Why it fell back (the handshake error, or STARTTLS refused), when it did. */
  fallbackReason?: string;
  /**
   * Whether the certificate is valid for the host name and chains to a trusted root
   * (checked on every TLS session, enforced only in `verified` mode); null: no TLS.
   */
  certificateError: string | null;
  reused: boolean;
  broken: boolean;
  /** When its current transaction took it (Date.now()). */
  usedAt: number;
  /** Settles when the connection has closed. */
  ended: Promise<void>;
}

/** The connection bounds of one destination budget (from its destination policy). */
export interface Budget {
  /** Connections to every server of the destination count against this key (ResolvedPolicy.key). */
  key: string;
  maxConnections: number;
  /** Transactions over one connection before it is quit and a new one opened. */
  messagesPerConnection: number;
  idleMs: number;
}

/** Connection slots shared by every process (src/delivery/connection-slots.ts): one is held per open connection. */
export interface SlotLeaser {
  /** A free slot of the budget's `max`, or undefined when all are held. */
  acquire(key: string, max: number): Promise<number | undefined>;
  release(key: string, slot: number): void;
}

/** A budget whose slots another process found all held: how many processes share it, and whether the asker holds any. */
export interface SlotRequest {
  key: string;
  processes: number;
  askerHolds: boolean;
}

export interface PoolOptions {
  heloName: string;
  timeoutMs: number;
  idleMs?: number;
  /** Without a budget: connections open at once to one destination address (default 16). */
  maxPerDestination?: number;
  /** Counts every connection of a budget against the limit of all processes together. */
  slots?: SlotLeaser;
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

/** Every connection slot of the budget is held (by this process or others): the transaction waits for a later run. */
export class BusyError extends ConnectError {
  constructor(key: string, max: number, message = `all ${max} connection(s) of ${key} are in use`, cause?: unknown) {
    super(message, "EBUSY", undefined, { cause });
  }
}

/**
 * The budget's connection slots could not be counted (a database error): Hikyaku's own
 * trouble, not the destination's. Treated as busy: the transaction parks, spending no
 * attempt and counting nothing towards the destination's suspension.
 */
export class SlotLeaseError extends BusyError {
  constructor(key: string, max: number, cause: unknown) {
    super(key, max, `could not lease a connection slot for ${key}: ${(cause as Error)?.message ?? String(cause)}`, cause);
  }
}

type Waiter = { key: string; resolve: (lease: Lease | undefined) => void; timer: NodeJS.Timeout };

/** What the pool knows of one budget: its connections, idle or in use, and who waits for one. */
interface Group {
  budget: Budget;
  /** Connections open now: in use, idle, or being opened. */
  open: number;
  inUse: Set<Lease>;
  idle: { lease: Lease; timer: NodeJS.Timeout }[];
  /** Transactions waiting for a connection: handed one as soon as another transaction ends. */
  waiters: Waiter[];
  /** How long a transaction holds a connection, on average (ms; a moving average), once one has ended. */
  holdMs: number | undefined;
  /** Until when the transactions parked busy so far are spread (Date.now() ms): the next one is told to come back after. */
  busyHorizon: number;
  /**
   * Until then, the budget's slots were all held (a slot query said so, and none of ours
   * has been freed since): a transaction that finds this group's connections busy waits
   * for one of them instead of asking the database again.
   */
  slotsFullUntil: number;
  /**
   * Until then, a slot this process frees is left for the process that asked for one
   * (handBack): this group's transactions wait for its remaining connections instead of
   * leasing the freed slot again at once, which they would always win.
   */
  handingBackUntil: number;
  /** Of `open`, the ones still asking the database for a slot: not connections yet. */
  asking: number;
  /**
   * The transaction asking again after every slot was found held (its token), and until
   * when the others await its answer instead of asking too (a query that hangs must not
   * hold them all up).
   */
  probe: object | undefined;
  probeUntil: number;
  /** Slots of this group given back so far: a query that began before one was may have missed it. */
  slotsFreed: number;
}

/** How long slots given back to another process are left to it (longer than its 250 ms look-again sleep). */
const HAND_BACK_MS = 1500;
/**
 * How long a transaction looks for a slot that other processes hold before it gives up
 * (and parks). Long enough for a holder to hear at its next renewal (each second) that
 * this process wants some, and to give them back: at 1 s, a worker that started after
 * another had leased every slot parked its first transactions before any came back.
 */
const SLOT_WAIT_MS = 2500;
/**
 * How long a transaction waits for one of this process's connections to come free
 * before it gives up (and parks as destination_busy). Short, like SLOT_WAIT_MS: the wait
 * holds the job's worker slot and its whole batch, so a slow destination would
 * otherwise delay every other domain's mail for up to the SMTP timeout.
 */
const BUSY_WAIT_MS = 3000;
/** A busy budget's parked transactions come back at least this far apart, and at most this far ahead. */
const BUSY_MIN_MS = 1000;
const BUSY_MAX_MS = 60_000;
/** …and one transaction's time is counted as this at most (a hung one would otherwise push the queue out). */
const BUSY_STEP_MAX_MS = 15_000;
/**
 * How long "every slot is held" is believed without asking again. Each waiting transaction
 * asked before: with 32 jobs a worker and 8 of 16 slots, about one slot query per message,
 * each a commit on the budget's hot rows. A slot another process frees is seen at most this late.
 */
const SLOTS_FULL_MS = 100;
/** How long the others await a probe's answer before they ask themselves. */
const PROBE_WAIT_MS = 2 * SLOTS_FULL_MS;
/** A connection that does not close within this after QUIT is counted as closed anyway. */
const CLOSE_WAIT_MS = 2000;

/**
 * At most `maxConnections` connections to one destination budget. A transaction that
 * finds them all busy waits for the next one to come free and reuses it, rather than
 * opening (and then quitting) a connection of its own: under load that churn (TCP,
 * greeting, EHLO, STARTTLS, QUIT for each message) was most of the worker's work, and it
 * is what receiving servers count against a sender. With `slots`, each connection also
 * holds one of the budget's slots across processes; a transaction that can get neither a
 * connection nor a slot within its wait fails with BusyError, which is not an attempt.
 */
export class ConnectionPool {
  private readonly groups = new Map<string, Group>();
  private closed = false;
  /** One context for every session: building one per connection would parse the roots each time. */
  private readonly secureContext: tls.SecureContext;

  constructor(private readonly opts: PoolOptions) {
    const ca = trustedCas(opts.extraCa);
    this.secureContext = tls.createSecureContext({ minVersion: "TLSv1.2", ...(ca ? { ca } : {}) });
  }

  /** A connection to the target: an idle one when there is one (unless `fresh`), else a new one. */
  async acquire(target: Target, tls: ConnectionTls, fresh = false, budget?: Budget): Promise<Lease> {
    const key = `${target.ip}|${target.port}|${target.host}|${tls}`;
    const b = budget ?? {
      key,
      maxConnections: this.opts.maxPerDestination ?? 16,
      messagesPerConnection: Number.POSITIVE_INFINITY,
      idleMs: this.opts.idleMs ?? 15_000,
    };
    const deadline = Date.now() + Math.min(this.opts.timeoutMs, BUSY_WAIT_MS);
    let slotDeadline: number | undefined;
    for (;;) {
      if (this.closed) throw new ConnectError("the connection pool is closed", "ECONNECTION", undefined);
      // Looked up on each turn: while this call waited, the group may have been forgotten (freed()).
      const g = this.group(b);
      if (!fresh) {
        const idle = this.takeIdle(g, key);
        if (idle) return this.use(g, idle);
      }
      if (g.open >= b.maxConnections) {
        if (Date.now() >= deadline) throw new BusyError(b.key, b.maxConnections);
        this.giveUpIdle(g);
        const handed = await this.wait(g, key, deadline - Date.now());
        if (handed) return this.use(g, handed);
        continue;
      }
      // A slot of ours freed since (slotsFullUntil 0) is for the taking: no need to await the probe.
      const probing = g.probe !== undefined && g.slotsFullUntil !== 0 && Date.now() < g.probeUntil;
      if (g.open > 0 && (Date.now() < g.slotsFullUntil || probing)) {
        slotDeadline ??= Date.now() + SLOT_WAIT_MS;
        if (Date.now() >= slotDeadline) throw new BusyError(b.key, b.maxConnections);
        const until = Date.now() < g.slotsFullUntil ? g.slotsFullUntil : g.probeUntil;
        const handed = await this.wait(g, key, Math.min(slotDeadline, until) - Date.now());
        if (handed) return this.use(this.group(b), handed);
        continue;
      }
      // After every slot was found held, one transaction looks again for the group; the
      // others wait for its answer (or a connection of ours) rather than all asking at once.
      const probe = g.open > 0 && g.slotsFullUntil !== 0 ? {} : undefined;
      if (probe) {
        g.probe = probe;
        g.probeUntil = Date.now() + PROBE_WAIT_MS;
      }
      const freedBefore = g.slotsFreed;
      g.open++;
      g.asking++;
      let slot: number | undefined;
      try {
        slot = this.opts.slots && budget ? await this.opts.slots.acquire(b.key, b.maxConnections) : 0;
      } catch (err) {
        g.asking--;
        if (probe) this.probed(g, probe, false);
        this.freed(g, undefined);
        throw new SlotLeaseError(b.key, b.maxConnections, err);
      }
      g.asking--;
      if (probe) this.probed(g, probe, slot !== undefined);
      if (slot === undefined) {
        // Other processes hold the slots: wait for one of ours to come free, or look again
        // shortly. Unless one of ours was freed while the query ran (it may not have seen
        // that), and never shortening a hand-back's longer wait.
        this.unreserve(g);
        if (g.slotsFreed === freedBefore) g.slotsFullUntil = Math.max(g.slotsFullUntil, Date.now() + SLOTS_FULL_MS);
        slotDeadline ??= Date.now() + SLOT_WAIT_MS;
        if (Date.now() >= slotDeadline) throw new BusyError(b.key, b.maxConnections);
        const g2 = this.group(b);
        // While the slot query ran, a transaction of ours may have finished and left its
        // connection idle: that one is ours to use, not to quit (giveUpIdle is for idle
        // connections to another server or TLS mode, which takeIdle does not take).
        const idle = fresh ? undefined : this.takeIdle(g2, key);
        if (idle) return this.use(g2, idle);
        this.giveUpIdle(g2);
        const handed = g2.open > 0 ? await this.wait(g2, key, Math.min(slotDeadline, g2.slotsFullUntil) - Date.now()) : await sleep(250, undefined);
        if (handed) return this.use(this.group(b), handed);
        continue;
      }
      try {
        const lease = await this.open(target, key, tls);
        lease.budget = b.key;
        lease.slot = this.opts.slots && budget ? slot : undefined;
        return this.use(this.group(b), lease);
      } catch (err) {
        this.freed(this.group(b), this.opts.slots && budget ? slot : undefined);
        throw err;
      }
    }
  }

  /**
   * Returns a connection that a transaction took and did not use (its slot passed while
   * it waited, shaped-attempt.ts): idle again at once, not counted as one of its
   * transactions nor in how long transactions hold one.
   */
  putBack(lease: Lease): void {
    const g = this.groups.get(lease.budget);
    g?.inUse.delete(lease);
    this.giveBack(lease, g, false);
  }

  /** Its transaction begins now (after waiting for its slot on the connection): how long it holds the connection counts from here. */
  begin(lease: Lease): void {
    lease.usedAt = Date.now();
  }

  /**
   * Returns a connection after a transaction, to be reused; closed when broken, and quit
   * when it has carried its budget's messages_per_connection or another process wants its
   * slot. A transaction the server refused is ended with RSET first; after a completed one
   * the next MAIL FROM may follow directly (RFC 5321 §4.1.4), saving a round trip.
   */
  release(lease: Lease, needsReset = false): void {
    const g = this.groups.get(lease.budget);
    g?.inUse.delete(lease);
    lease.transactions++;
    if (g) {
      const took = Date.now() - lease.usedAt;
      g.holdMs = g.holdMs === undefined ? took : g.holdMs * 0.8 + took * 0.2;
    }
    this.giveBack(lease, g, needsReset);
  }

  /** After a transaction, or none: closed when broken, quit when spent or wanted elsewhere, else idle (after RSET if asked). */
  private giveBack(lease: Lease, g: Group | undefined, needsReset: boolean): void {
    if (lease.broken || this.closed || !g) {
      this.discard(lease, "close");
      return;
    }
    if (lease.retire || lease.transactions >= g.budget.messagesPerConnection) {
      this.discard(lease, "quit");
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

  /**
   * Gives some of the budget's connections back, because another process found every
   * slot held, down to this process's fair share (the budget's connections over the
   * processes that share it, rounded up): a quarter of those open here at a time (at
   * least one), idle ones now, others after their transaction. An asker that holds none
   * yet always gets some: whoever holds more than the share rounded down gives. At the
   * fair share nothing is given, so shares that have evened out stay put instead of
   * passing connections back and forth. For a while the slots freed are left to the
   * others (see handingBackUntil); asked each second, the shares even out within seconds.
   */
  handBack(request: SlotRequest): void {
    const g = this.groups.get(request.key);
    if (!g) return;
    const max = g.budget.maxConnections;
    const share = request.askerHolds ? Math.ceil(max / request.processes) : Math.floor(max / request.processes);
    // Connections already told to close after their transaction are given back already,
    // and a transaction still asking for a slot holds none.
    let keeping = g.open - g.asking;
    for (const lease of g.inUse) if (lease.retire) keeping--;
    if (keeping <= share) return;
    g.handingBackUntil = Date.now() + HAND_BACK_MS;
    g.slotsFullUntil = Math.max(g.slotsFullUntil, g.handingBackUntil);
    let n = Math.min(Math.max(1, Math.floor(keeping / 4)), keeping - share);
    while (n > 0) {
      const entry = g.idle.shift();
      if (!entry) break;
      clearTimeout(entry.timer);
      this.discard(entry.lease, "quit");
      n--;
    }
    for (const lease of g.inUse) {
      if (n <= 0) break;
      if (lease.retire) continue;
      lease.retire = true;
      n--;
    }
  }

  /**
   * Quits one idle connection of the budget, to make room for a transaction that found
   * every connection (or slot) taken: what is idle here goes to another server of the
   * budget, or in another TLS mode (takeIdle took any of its own), and would otherwise
   * hold the room until its idle_close_seconds.
   */
  private giveUpIdle(g: Group): void {
    const entry = g.idle.shift();
    if (!entry) return;
    clearTimeout(entry.timer);
    this.discard(entry.lease, "quit");
  }

  /** Connections open now, per budget key (this process only). */
  openConnections(): Map<string, number> {
    return new Map([...this.groups].map(([k, g]) => [k, g.open]));
  }

  close(): void {
    this.closed = true;
    for (const g of this.groups.values()) {
      for (const { lease, timer } of g.idle.splice(0)) {
        clearTimeout(timer);
        this.discard(lease, "quit");
      }
      for (const w of g.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.resolve(undefined);
      }
    }
  }

  private group(budget: Budget): Group {
    let g = this.groups.get(budget.key);
    if (!g) {
      g = {
        budget,
        open: 0,
        inUse: new Set(),
        idle: [],
        waiters: [],
        holdMs: undefined,
        busyHorizon: 0,
        slotsFullUntil: 0,
        handingBackUntil: 0,
        asking: 0,
        probe: undefined,
        probeUntil: 0,
        slotsFreed: 0,
      };
      this.groups.set(budget.key, g);
    }
    g.budget = budget; // the policy may have changed since
    return g;
  }

  private use(g: Group, lease: Lease): Lease {
    g.inUse.add(lease);
    lease.usedAt = Date.now();
    return lease;
  }

  /**
   * In how many ms a transaction that found the budget busy should look again: about when one of
   * its connections is likely free, each parked one a transaction's time after the one
   * parked before it (a queue spread over the budget's connections), so that they neither
   * come back all at once nor every second while a slow destination holds the connections.
   * A transaction's time is the average so far, or how long the oldest one in progress has
   * taken already when that is longer.
   */
  busyDelayMs(budgetKey: string): number {
    const now = Date.now();
    const g = this.groups.get(budgetKey);
    if (!g) return BUSY_MIN_MS + Math.random() * BUSY_MIN_MS;
    let oldest = 0;
    for (const l of g.inUse) oldest = Math.max(oldest, now - l.usedAt);
    const hold = Math.min(Math.max(g.holdMs ?? 0, oldest, BUSY_MIN_MS), BUSY_STEP_MAX_MS);
    const step = hold / Math.max(1, g.budget.maxConnections);
    g.busyHorizon = Math.min(Math.max(g.busyHorizon, now) + step, now + BUSY_MAX_MS);
    return g.busyHorizon - now + Math.random() * step;
  }

  private wait(g: Group, key: string, ms: number): Promise<Lease | undefined> {
    return new Promise<Lease | undefined>((resolve) => {
      const waiter: Waiter = {
        key,
        resolve,
        timer: setTimeout(
          () => {
            const i = g.waiters.indexOf(waiter);
            if (i >= 0) g.waiters.splice(i, 1);
            resolve(undefined);
          },
          Math.max(ms, 1),
        ),
      };
      g.waiters.push(waiter);
    });
  }

  private takeIdle(g: Group, key: string): Lease | undefined {
    for (let i = g.idle.length - 1; i >= 0; i--) {
      const entry = g.idle[i];
      if (entry?.lease.key !== key) continue;
      g.idle.splice(i, 1);
      clearTimeout(entry.timer);
      if (!entry.lease.broken) {
        entry.lease.reused = true;
        return entry.lease;
      }
      this.discard(entry.lease, "close");
    }
    return undefined;
  }

  /**
   * A connection free again: to the longest waiter for its server; else, when someone
   * waits for another server of the budget, quit so that one can open; else idle for the
   * budget's idle_close_seconds.
   */
  private keep(lease: Lease): void {
    const g = this.groups.get(lease.budget);
    if (!g) {
      this.discard(lease, "quit");
      return;
    }
    const i = g.waiters.findIndex((w) => w.key === lease.key);
    const waiter = i >= 0 ? g.waiters.splice(i, 1)[0] : undefined;
    if (waiter) {
      clearTimeout(waiter.timer);
      lease.reused = true;
      g.inUse.add(lease);
      waiter.resolve(lease);
      return;
    }
    if (g.waiters.length > 0) {
      this.discard(lease, "quit");
      return;
    }
    const entry = {
      lease,
      timer: setTimeout(() => {
        const at = g.idle.indexOf(entry);
        if (at >= 0) g.idle.splice(at, 1);
        this.discard(lease, "quit");
      }, g.budget.idleMs),
    };
    entry.timer.unref();
    g.idle.push(entry);
  }

  /** Ends a connection; it counts (here and in its slot) until it has closed, as the destination counts it. */
  private discard(lease: Lease, how: "quit" | "close"): void {
    if (how === "quit") lease.conn.quit();
    else lease.conn.close();
    const g = this.groups.get(lease.budget);
    g?.inUse.delete(lease);
    let timer: NodeJS.Timeout | undefined;
    const closed = new Promise<void>((r) => {
      timer = setTimeout(r, CLOSE_WAIT_MS);
    });
    void Promise.race([lease.ended, closed]).then(() => {
      clearTimeout(timer);
      if (g) this.freed(g, lease.slot);
      else if (lease.slot !== undefined) this.opts.slots?.release(lease.budget, lease.slot);
    });
  }

  /**
   * Takes back the count of a connection that was never opened (no slot was free). Only
   * when that count filled the group may a waiter open one instead; otherwise waking one
   * would only send it to find the slots full too, and wake the next: a query loop that
   * ran thousands of times a second across the waiting transactions of a worker.
   */
  private unreserve(g: Group): void {
    if (g.open >= g.budget.maxConnections) {
      this.freed(g, undefined);
      return;
    }
    g.open--;
    this.forgetIfUnused(g);
  }

  /** The probe's answer: with a slot, more may be free, so the waiting transactions look at once. */
  private probed(g: Group, probe: object, gotSlot: boolean): void {
    if (g.probe !== probe) return; // a later probe took over when this one was overdue
    g.probe = undefined;
    if (!gotSlot) return;
    if (Date.now() >= g.handingBackUntil) g.slotsFullUntil = 0;
    for (const waiter of g.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve(undefined);
    }
  }

  /** One connection fewer: its slot goes back, and a waiter may open its own now. */
  private freed(g: Group, slot: number | undefined): void {
    if (slot !== undefined) {
      g.slotsFreed++;
      this.opts.slots?.release(g.budget.key, slot);
      g.slotsFullUntil = Date.now() < g.handingBackUntil ? g.handingBackUntil : 0;
    }
    g.open--;
    const waiter = g.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(undefined);
    }
    this.forgetIfUnused(g);
  }

  /** Forgets a budget with nothing open, so a long-lived worker does not keep one entry for every server it ever talked to. */
  private forgetIfUnused(g: Group): void {
    if (g.open <= 0 && g.idle.length === 0 && g.waiters.length === 0 && this.groups.get(g.budget.key) === g) this.groups.delete(g.budget.key);
  }

  private async open(target: Target, key: string, mode: ConnectionTls): Promise<Lease> {
    let lease: Lease;
    try {
      lease = await this.connect(target, key, mode, false);
    } catch (err) {
      const e = err as ConnectError;
      if (mode !== "opportunistic" || e.smtpCode !== "ETLS") throw err;
      lease = await this.connect(target, key, mode, true);
      lease.fallbackReason = `STARTTLS handshake failed (${e.message})`;
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
    const watcher = startTlsRefusalWatcher();
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
      logger: watcher.logger as never,
    });
    const ended = new Promise<void>((r) => conn.once("end", () => r()));
    const lease: Lease = {
      ended,
      conn,
      target,
      key,
      budget: key,
      slot: undefined,
      transactions: 0,
      retire: false,
      secure: false,
      tlsFellBack: plain,
      certificateError: null,
      reused: false,
      broken: false,
      usedAt: 0,
    };
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
      // A server that closes before its greeting is handed to this callback as an error.
      conn.connect((err?: Error & { code?: string; response?: string }) => {
        if (settled) return;
        settled = true;
        if (err) {
          lease.broken = true;
          reject(new ConnectError(err.message, err.code, err.response, { cause: err }));
          return;
        }
        lease.secure = conn.secure;
        lease.certificateError = conn.secure ? certificateError(conn, target.host) : null;
        if (!conn.secure && !plain && watcher.refused()) {
          // Offered, then refused: the plain-text session is a fallback like a failed handshake.
          lease.tlsFellBack = true;
          lease.fallbackReason = "the server offered STARTTLS, then refused it";
        }
        resolve(lease);
      });
    });
  }
}
