// The SMTP door's session steps: admit the connection, authenticate (submission) or
// recognise the source IP (relay), check the envelope, and hand DATA to accept().
// Every refusal is answered from the error table and written to the reception log.
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerOptions, SMTPServerSession } from "smtp-server";
import { checkEmail, domainOf } from "../accept/addresses.ts";
import { MAX_RECIPIENTS } from "../accept/accept.ts";
import { checkDomainOwners, checkEnvelopeSender } from "../accept/sender-rules.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { type Refusal, recordReception } from "../logs/reception.ts";
import { authLocked, type LockScope, recordAuthFailure } from "./auth-failures.ts";
import { checkSmtpLogin } from "./credentials.ts";
import { commandIsUtf8, EARLY_TALKER_MS, type SyntaxRefusal } from "./intake-server.ts";
import { receiveMessage } from "./receive-message.ts";
import { asAppError, smtpReply } from "./reply.ts";
import { accountForSourceIp, normaliseIp } from "./source-ips.ts";

/** relay: the source IP names the account. submission: SMTP AUTH names it. */
export type Door = "relay" | "submission";

export interface IntakeDeps {
  db: Db;
  config: Config;
  /** Open sessions per client IP, shared by every port of this process. */
  perIp: Map<string, number>;
  closeSession(session: SMTPServerSession): void;
}

/** Who a submission session logged in as. */
export interface SmtpUser {
  accountId: string;
  credentialId: string;
  username: string;
}

interface SessionState {
  /** The account of the transaction in progress (set at MAIL FROM). */
  accountId?: string;
  authFailures: number;
  counted: boolean;
}

export const MAX_AUTH_FAILURES_PER_CONNECTION = 3;
const BAD_LOGIN = "Authentication failed: the username or password is not right.";
const LOCKED_WHY: Record<LockScope, string> = {
  ipUser: "for this username from this address",
  ip: "from this address",
  user: "for this username",
};

type Handlers = Required<Pick<SMTPServerOptions, "onConnect" | "onClose" | "onAuth" | "onMailFrom" | "onRcptTo" | "onData">> & {
  onSyntaxRefusal(session: SMTPServerSession, refusal: SyntaxRefusal): void;
  greetingDelayMs(remoteAddress: string): Promise<number>;
};

export function intakeHandlers(deps: IntakeDeps, door: Door): Handlers {
  const states = new WeakMap<SMTPServerSession, SessionState>();
  const state = (s: SMTPServerSession) => {
    const known = states.get(s);
    if (known) return known;
    const st: SessionState = { authFailures: 0, counted: false };
    states.set(s, st);
    return st;
  };

  /** Answers through smtp-server's callback, logging refusals that name an intake attempt. */
  const answer = <T>(session: SMTPServerSession, stage: string, work: Promise<T>, cb: (err: Error | null, value?: T) => void, log?: Partial<LogContext>) => {
    work.then(
      (value) => cb(null, value),
      (err: unknown) => {
        const appErr = asAppError(err, stage);
        if (log) refused(deps, session, state(session).accountId ?? null, appErr, log);
        cb(smtpReply(appErr));
      },
    );
  };

  return {
    /**
     * The early-talker wait, only where it can catch something: a relay client whose IP is
     * registered is greeted at once (it sends one message per connection, often), one the
     * relay does not know waits EARLY_TALKER_MS, and anything it says before the greeting
     * ends the session. The submission doors greet at once: nothing is taken there before
     * TLS and a login, and failed logins lock out.
     */
    async greetingDelayMs(remoteAddress) {
      if (door === "submission") return 0;
      return (await relayAccount(deps, remoteAddress)) ? 0 : EARLY_TALKER_MS;
    },

    onConnect(session, cb) {
      const ip = session.remoteAddress;
      const open = deps.perIp.get(ip) ?? 0;
      if (open >= deps.config.HIKYAKU_SMTP_MAX_CONNECTIONS_PER_IP) {
        const limit = deps.config.HIKYAKU_SMTP_MAX_CONNECTIONS_PER_IP;
        return cb(smtpReply(new AppError("too_many_connections", `Too many connections from ${ip}: at most ${limit} at once; close some and try again.`)));
      }
      deps.perIp.set(ip, open + 1);
      state(session).counted = true;
      cb();
    },

    onClose(session) {
      if (!states.get(session)?.counted) return;
      const ip = session.remoteAddress;
      const open = (deps.perIp.get(ip) ?? 1) - 1;
      if (open > 0) deps.perIp.set(ip, open);
      else deps.perIp.delete(ip);
    },

    onAuth(auth, session, cb) {
      answer(session, "auth", authenticate(deps, auth, session, state(session)), (err, user) => {
        if (err) {
          cb(err);
          if (state(session).authFailures >= MAX_AUTH_FAILURES_PER_CONNECTION) deps.closeSession(session);
          return;
        }
        cb(null, { user });
      });
    },

    onMailFrom(address, session, cb) {
      const st = state(session);
      st.accountId = undefined;
      answer(session, "mail", mailFrom(deps, door, address, session, st), cb, { envelopeSender: address.address, recipientCount: 0 });
    },

    onRcptTo(address, session, cb) {
      answer(session, "rcpt", rcptTo(address, session), cb, {
        envelopeSender: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
        recipientCount: 1,
      });
    },

    onSyntaxRefusal(session, r) {
      void syntaxRefused(deps, door, session, r);
    },

    onData(stream, session, cb) {
      const st = state(session);
      const envelopeSender = session.envelope.mailFrom ? session.envelope.mailFrom.address : null;
      const recipientCount = session.envelope.rcptTo.length;
      const work = receiveMessage(deps, stream, session, st.accountId).then((id) => `2.0.0 Ok: queued as ${id}`);
      answer(session, "data", work, cb, { envelopeSender, recipientCount });
    },
  };
}

async function authenticate(deps: IntakeDeps, auth: SMTPServerAuthentication, session: SMTPServerSession, st: SessionState): Promise<SmtpUser> {
  const username = auth.username ?? "";
  const ip = session.remoteAddress;
  const locked = await authLocked(deps.db, ip, username);
  if (locked) {
    st.authFailures++; // a locked-out client still leaves after three tries
    const err = new AppError("rate_limited", `Too many failed logins ${LOCKED_WHY[locked]}; wait 10 minutes before trying again.`);
    refused(deps, session, null, err, { envelopeSender: null, recipientCount: 0 });
    throw err;
  }
  const check = await checkSmtpLogin(deps.db, username, auth.password ?? "");
  // PLAIN may name a second identity to act as; Hikyaku has no such thing, so it must match.
  const proxied = auth.method === "PLAIN" && auth.authzid && auth.authcid && auth.authzid !== auth.authcid;
  if (check.login && !proxied) return check.login;
  st.authFailures++;
  await recordAuthFailure(deps.db, ip, username);
  const err = new AppError("unauthorized", BAD_LOGIN);
  refused(deps, session, check.accountId, err, {
    envelopeSender: null,
    recipientCount: 0,
    reason: `${BAD_LOGIN} (username ${JSON.stringify(username.slice(0, 64))})`,
  });
  throw err;
}

async function mailFrom(deps: IntakeDeps, door: Door, address: SMTPServerAddress, session: SMTPServerSession, st: SessionState): Promise<void> {
  const accountId = door === "relay" ? await relayAccount(deps, session.remoteAddress) : (session.user as SmtpUser | undefined)?.accountId;
  if (!accountId) {
    const how = door === "relay" ? "register it with PUT /v1/source-ips, or use the submission port with SMTP AUTH" : "authenticate first";
    throw new AppError("forbidden", `Relay access denied: ${session.remoteAddress} may not send through Hikyaku; ${how}.`);
  }
  st.accountId = accountId;
  checkUtf8(session, "MAIL FROM");
  // The sender rule (F7) runs again inside accept(); here it refuses before any bytes are sent.
  const sender = address.address === "" ? "" : checkEmail(address.address, "MAIL FROM");
  checkEnvelopeSender(sender, { field: "MAIL FROM", internal: false });
  if (sender) await checkDomainOwners(deps.db, accountId, [{ domain: domainOf(sender), what: "The envelope sender", field: "MAIL FROM" }]);
}

/**
 * A registered IP is looked up again every few seconds, not for every connection or
 * message: a removed IP stops relaying soon after. An unknown one is looked up every
 * time, so a newly registered IP relays at once. One cache per database (tests run
 * several services in one process).
 */
const RELAY_RECHECK_MS = 5000;
const knownRelays = new WeakMap<Db, Map<string, { accountId: string; at: number }>>();

async function relayAccount(deps: IntakeDeps, remoteAddress: string): Promise<string | undefined> {
  const known = knownRelays.get(deps.db) ?? new Map<string, { accountId: string; at: number }>();
  knownRelays.set(deps.db, known);
  const hit = known.get(remoteAddress);
  if (hit && performance.now() - hit.at < RELAY_RECHECK_MS) return hit.accountId;
  const accountId = await accountForSourceIp(deps.db, remoteAddress);
  if (known.size > 10_000) known.clear();
  if (accountId) known.set(remoteAddress, { accountId, at: performance.now() });
  else known.delete(remoteAddress);
  return accountId;
}

/** An address that is not UTF-8 would be stored with U+FFFD in it: a different address. */
function checkUtf8(session: SMTPServerSession, field: string): void {
  if (commandIsUtf8(session)) return;
  throw new AppError("invalid_address", `${field}: the address is not valid UTF-8; send it as UTF-8 (with SMTPUTF8) or in ASCII.`, { field });
}

async function rcptTo(address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
  checkUtf8(session, "RCPT TO");
  checkEmail(address.address, "RCPT TO");
  const rcpts = session.envelope.rcptTo;
  const again = rcpts.some((r) => r.address.toLowerCase() === address.address.toLowerCase());
  if (!again && rcpts.length >= MAX_RECIPIENTS) {
    throw new AppError("too_many_recipients", `Too many recipients: at most ${MAX_RECIPIENTS} per message; send the rest in another transaction.`);
  }
}

/** Logs a MAIL FROM or RCPT TO that smtp-server refused before our handlers saw it, in the account it belongs to. */
async function syntaxRefused(deps: IntakeDeps, door: Door, session: SMTPServerSession, r: SyntaxRefusal): Promise<void> {
  const user = (session.user as SmtpUser | undefined)?.accountId;
  const accountId = user ?? (door === "relay" ? await relayAccount(deps, session.remoteAddress).catch(() => undefined) : undefined) ?? null;
  const text = r.command.toString("utf8");
  const address = (/<([^>]*)>?/.exec(text)?.[1] ?? text.slice(text.indexOf(":") + 1).trim()).slice(0, 320);
  const mail = r.stage === "MAIL FROM";
  logRefusal(deps, session, accountId, {
    envelopeSender: mail ? address : session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
    recipientCount: mail ? 0 : 1,
    code: r.code,
    enhancedCode: r.enhancedCode,
    reason: `${r.stage}: ${JSON.stringify(address)} is not a valid address (${r.reply.replace(/^Error: /, "")}).`,
  });
}

interface LogContext {
  envelopeSender: string | null;
  recipientCount: number;
  reason: string;
}

function refused(deps: IntakeDeps, session: SMTPServerSession, accountId: string | null, err: AppError, ctx: Partial<LogContext>): void {
  logRefusal(deps, session, accountId, {
    envelopeSender: ctx.envelopeSender ?? null,
    recipientCount: ctx.recipientCount ?? 0,
    code: err.responseCode,
    enhancedCode: err.smtpText.split(" ", 1)[0] ?? null,
    reason: ctx.reason ?? err.message,
  });
}

function logRefusal(deps: IntakeDeps, session: SMTPServerSession, accountId: string | null, r: Omit<Refusal, "accountId" | "channel" | "sourceIp">): void {
  void recordReception(deps.db, { accountId, channel: "smtp", sourceIp: normaliseIp(session.remoteAddress) ?? session.remoteAddress, ...r });
}
