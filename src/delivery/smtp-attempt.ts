// One delivery attempt for the recipients of one message at one domain: try the
// destination's servers in order, send one transaction (per recipient chunk), and
// report each recipient's outcome as a value.
import type SMTPConnection from "nodemailer/lib/smtp-connection";
import { nowMs } from "../clock.ts";
import { BusyError, SlotLeaseError, type Budget, ConnectError, type ConnectionPool, type ConnectionTls, type Lease } from "./connection-pool.ts";
import type { Target } from "./destination.ts";
import { enhancedOf, kindOfCode, type Outcome } from "./outcome.ts";
import { log } from "../logger.ts";
import { type ServiceCode, serviceReply } from "./service-codes.ts";

export interface AttemptInput {
  envelopeFrom: string;
  recipients: string[];
  raw: Buffer;
  targets: Target[];
  /** How the sessions use TLS; a policy's `mta-sts` becomes one of these through planTls() (tls-plan.ts). */
  tls: ConnectionTls;
  /**
   * MTA-STS `testing`: what an `enforce` policy would have refused about this session
   * (RFC 8461 §5: deliver, but report), written into the log event's tls_detail.
   */
  audit?: (target: Target, session: { secure: boolean; certificateError: string | null }) => string | undefined;
  maxRecipientsPerTransaction: number;
  /** The destination policy's connection bounds (src/delivery/shaper.ts); without: the pool's per-address default. */
  budget?: Budget;
  /**
   * A paced transaction's slot (nowMs): the connection is found first, then the
   * transaction waits for its moment, so that getting a connection does not make it late.
   */
  notBefore?: number;
  /**
   * The latest moment it may begin: one whose connection came later sends nothing and
   * returns `shaped`, to ask for a new slot (shaped-attempt.ts). Sent that late, it would
   * go out together with the budget's next slots, faster than the rate.
   */
  startBy?: number;
}

type SmtpError = Error & { code?: string; response?: string; responseCode?: number; command?: string };
type SendResult = { info: SMTPConnection.SentMessageInfo } | { error: SmtpError };

export async function attemptDomain(pool: ConnectionPool, input: AttemptInput): Promise<Map<string, Outcome>> {
  const outcomes = new Map<string, Outcome>();
  for (let i = 0; i < input.recipients.length; i += input.maxRecipientsPerTransaction) {
    const chunk = input.recipients.slice(i, i + input.maxRecipientsPerTransaction);
    for (const [rcpt, o] of await attemptChunk(pool, input, chunk)) outcomes.set(rcpt, o);
  }
  return outcomes;
}

async function attemptChunk(pool: ConnectionPool, input: AttemptInput, rcpts: string[]): Promise<Map<string, Outcome>> {
  let last: Outcome | undefined;
  for (const target of input.targets) {
    const tried = await sendVia(pool, target, input, rcpts);
    if ("outcomes" in tried) return tried.outcomes;
    last = tried.failed;
    if (last.kind === "bounced") break; // a 5xx greeting is this server's final word
    if (last.service === "destination_busy" || last.service === "shaped") break; // every server of the destination shares the budget
  }
  const fallback = last ?? service("connection_failed", null, null, null, "no destination server");
  return new Map(rcpts.map((r) => [r, fallback]));
}

/** One transaction through one server; a reused connection the server had dropped is replaced once. */
async function sendVia(
  pool: ConnectionPool,
  target: Target,
  input: AttemptInput,
  rcpts: string[],
): Promise<{ outcomes: Map<string, Outcome> } | { failed: Outcome }> {
  for (let fresh = false; ; fresh = true) {
    let lease: Lease;
    try {
      lease = await pool.acquire(target, input.tls, fresh, input.budget);
    } catch (err) {
      return { failed: connectFailure(err, target, input.tls) };
    }
    if (input.notBefore !== undefined) {
      await sleepUntil(input.notBefore);
      pool.begin(lease);
    }
    if (input.startBy !== undefined && nowMs() > input.startBy) {
      pool.putBack(lease);
      return { failed: service("shaped", target.host, target.ip, null, "its slot passed while it waited for a connection") };
    }
    const result = await send(lease, input, rcpts);
    pool.release(lease, "error" in result);
    if (!fresh && lease.reused && "error" in result && isStaleConnection(result.error)) continue;
    return { outcomes: withSession(interpret(result, rcpts, lease), lease, input) };
  }
}

function send(lease: Lease, input: AttemptInput, rcpts: string[]): Promise<SendResult> {
  return new Promise((resolve) => {
    const onError = (error: SmtpError) => done({ error });
    // A server that answers 421 closes at once, and nodemailer emits the close before it
    // hands the 421 to the send callback: wait a turn so the reply, not the close, is the outcome.
    const onEnd = () => setImmediate(() => done({ error: Object.assign(new Error("connection closed"), { code: "ECONNECTION" }) }));
    let settled = false;
    const done = (r: SendResult) => {
      if (settled) return;
      settled = true;
      lease.conn.removeListener("error", onError);
      lease.conn.removeListener("end", onEnd);
      if ("error" in r && !r.error.responseCode) lease.broken = true;
      resolve(r);
    };
    lease.conn.once("error", onError);
    lease.conn.once("end", onEnd);
    const envelope = { from: input.envelopeFrom === "" ? false : input.envelopeFrom, to: rcpts, size: input.raw.length };
    lease.conn.send(envelope as SMTPConnection.Envelope, input.raw, (err, info) => done(err ? { error: err as SmtpError } : { info }));
  });
}

/** A reused connection the server had already dropped: safe to retry, nothing was sent. */
function isStaleConnection(err: SmtpError): boolean {
  return !err.responseCode && (err.command === undefined || err.command === "MAIL FROM" || err.command === "CONN");
}

function interpret(result: SendResult, rcpts: string[], lease: Lease): Map<string, Outcome> {
  const out = new Map<string, Outcome>();
  const { host, ip } = lease.target;
  const tls = lease.secure;
  if ("info" in result) {
    const response = result.info.response ?? "250 OK";
    for (const r of result.info.accepted as string[]) out.set(r, fromReply(response, host, ip, tls));
    for (const e of (result.info.rejectedErrors ?? []) as SmtpError[]) {
      if (e.response && (e as { recipient?: string }).recipient) {
        out.set((e as { recipient?: string }).recipient as string, fromReply(e.response, host, ip, tls));
      }
    }
  } else {
    const err = result.error;
    const rejected = (err as { rejectedErrors?: SmtpError[] }).rejectedErrors ?? [];
    for (const e of rejected) {
      const r = (e as { recipient?: string }).recipient;
      if (r && e.response) out.set(r, fromReply(e.response, host, ip, tls));
    }
    const whole = err.response
      ? fromReply(err.response, host, ip, tls)
      : service(err.code === "ETIMEDOUT" ? "timeout" : "connection_lost", host, ip, tls, err.message);
    for (const r of rcpts) if (!out.has(r)) out.set(r, whole);
  }
  for (const r of rcpts) {
    if (!out.has(r)) out.set(r, service("protocol_error", host, ip, tls, "no reply for this recipient"));
  }
  return out;
}

function fromReply(response: string, mxHost: string, mxIp: string, tls: boolean): Outcome {
  const line = response.trim().replace(/\s+/g, " ").slice(0, 1000);
  const code = Number(line.slice(0, 3));
  if (!Number.isInteger(code) || code < 200 || code > 599) {
    return service("protocol_error", mxHost, mxIp, tls, line.slice(0, 200));
  }
  return { kind: kindOfCode(code), code, enhanced: enhancedOf(line), response: line, source: "destination", mxHost, mxIp, tls };
}

/** The TLS facts of a session, on each outcome it produced: the fallback, and an MTA-STS testing report. */
function withSession(outcomes: Map<string, Outcome>, lease: Lease, input: AttemptInput): Map<string, Outcome> {
  const fallback = lease.tlsFellBack ? `${lease.fallbackReason ?? "STARTTLS failed"}; sent in plain text` : undefined;
  const audit = input.audit?.(lease.target, lease);
  const tlsDetail = [fallback, audit].filter(Boolean).join("; ") || undefined;
  for (const [r, o] of outcomes) outcomes.set(r, { ...o, tlsFallback: lease.tlsFellBack, ...(tlsDetail ? { tlsDetail } : {}) });
  return outcomes;
}

function connectFailure(err: unknown, target: Target, mode: ConnectionTls): Outcome {
  if (err instanceof SlotLeaseError) log.warn("could not lease a connection slot; the transaction waits", { err });
  if (err instanceof BusyError) return service("destination_busy", target.host, target.ip, null, err.message);
  const e = err instanceof ConnectError ? err : undefined;
  const where = `${target.host} [${target.ip}]:${target.port}`;
  if (e && mode !== "opportunistic" && isTlsStage(e)) {
    // No STARTTLS, a refused one, a failed handshake or a bad certificate: never plain text.
    const why = e.response ? `${e.message} (${e.response.trim().slice(0, 200)})` : e.message;
    return service(mode === "verified" ? "mta_sts_failed" : "tls_required", target.host, target.ip, null, `${where}: ${why}`);
  }
  if (e?.response) return fromReply(e.response, target.host, target.ip, false);
  const code = e?.smtpCode;
  const name: ServiceCode = code === "ETIMEDOUT" ? "timeout" : code === "ETLS" ? "tls_failed" : "connection_failed";
  const cause = (e?.cause as { originalCode?: string; code?: string } | undefined) ?? {};
  return service(name, target.host, target.ip, null, `${where} ${cause.originalCode ?? code ?? ""}`.trim());
}

/**
 * The connection failed on the way to TLS: STARTTLS refused or not offered, the
 * handshake, the certificate, or an EHLO refusal that leaves no way to ask for STARTTLS.
 * A 421 at EHLO is the server closing, as at any other stage.
 */
function isTlsStage(e: ConnectError): boolean {
  if (e.smtpCode === "ETLS" || e.command === "STARTTLS") return true;
  return e.command === "EHLO" && !e.response?.startsWith("421");
}

export function service(name: ServiceCode, mxHost: string | null, mxIp: string | null, tls: boolean | null, detail?: string): Outcome {
  const r = serviceReply(name, detail);
  return { kind: kindOfCode(r.code), code: r.code, enhanced: r.enhanced, response: r.response, source: "hikyaku", service: name, mxHost, mxIp, tls };
}

/** Waits until the service's clock (nowMs) reads `ms`; at once if it has. */
export async function sleepUntil(ms: number): Promise<void> {
  const wait = ms - nowMs();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}
