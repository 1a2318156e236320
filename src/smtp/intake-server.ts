// smtp-server, adapted to Hikyaku's replies and limits: a reply whose text starts with
// an enhanced status code (from the error table) keeps that code instead of the
// library's guess, AUTH before TLS answers 538 5.7.11 and is not advertised before it,
// a SIZE refusal reads like ours, MAIL and RCPT lines that are not UTF-8 are marked for
// the handlers (the library would turn them into U+FFFD), every session has an
// absolute deadline so a client that trickles bytes cannot hold a connection forever,
// and the greeting goes out as soon as the server knows whom it greets, not after the
// library's fixed 100 ms early-talker wait (see init()).
import { isUtf8 } from "node:buffer";
import type net from "node:net";
import type tls from "node:tls";
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from "smtp-server";
import { SMTPConnection, type SMTPConnectionOptions } from "smtp-server/lib/smtp-connection.js";

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

/** How long a client the server does not know must stay silent before its greeting (smtp-server's own figure). */
export const EARLY_TALKER_MS = 100;

/** Sessions whose MAIL or RCPT command being handled is not valid UTF-8. */
const notUtf8 = new WeakSet<SMTPServerSession>();

/** False while the MAIL FROM or RCPT TO being handled arrived as bytes that are not UTF-8. */
export function commandIsUtf8(session: SMTPServerSession): boolean {
  return !notUtf8.has(session);
}

/** A MAIL FROM or RCPT TO that smtp-server itself refused as bad syntax, for the reception log. */
export interface SyntaxRefusal {
  stage: "MAIL FROM" | "RCPT TO";
  /** The command line as sent. */
  command: Buffer;
  code: number;
  enhancedCode: string;
  reply: string;
}

class IntakeConnection extends SMTPConnection {
  private deadline: NodeJS.Timeout | undefined;
  private corked = false;
  private addressCommand: Buffer = Buffer.alloc(0);

  /**
   * SMTPConnection#init (smtp-server 3.21) waits 100 ms before every greeting, so that a
   * client which talks first (a spam bot blasting its transaction) is caught: anything
   * received before the greeting is answered 421 and the connection closed. Every
   * message from a one-connection-per-message client (PHP mail() through a relay) paid
   * those 100 ms, which capped 20 such sessions at 200 messages/s. Here the wait is the
   * server's choice per client (`greetingDelayMs`): none for a client it knows, the
   * library's 100 ms for one it does not. Commands sent before the greeting are still
   * refused, whatever the wait. test/smtp-greeting.test.ts fails when the library's
   * init() changes, so this copy cannot silently drift from it.
   */
  override init(): void {
    this._setListeners(() => {
      const { maxClients } = this._server.options;
      if (maxClients && this._server.connections.size > maxClients) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      this.greetWhenDue();
    });
    this.deadline = setTimeout(() => this.expire(), (this._server as IntakeServer).sessionMs);
    this.deadline.unref();
  }

  private greetWhenDue(): void {
    const ask = (this._server as IntakeServer).greetingDelayMs;
    const after = (ms: number) => {
      if (ms <= 0) this.connectionReady();
      else setTimeout(() => this.connectionReady(), ms).unref();
    };
    if (!ask) {
      after(0);
      return;
    }
    Promise.resolve()
      .then(() => ask(this.remoteAddress))
      .then(after, () => after(EARLY_TALKER_MS));
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    const verb = command.subarray(0, 5).toString("latin1").toUpperCase();
    if (verb === "MAIL " || verb === "RCPT ") {
      this.addressCommand = command;
      if (isUtf8(command)) notUtf8.delete(this.session);
      else notUtf8.add(this.session);
    }
    super._onCommand(command, callback);
  }

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    this.gatherReplies();
    // The library's own address refusals (a NUL, a space, a bad bracket) never reach our handlers.
    if (context === "SENDER_SYNTAX_ERROR" || context === "MAILBOX_SYNTAX_ERROR") {
      const sender = context === "SENDER_SYNTAX_ERROR";
      (this._server as IntakeServer).onSyntaxRefusal?.(this.session, {
        stage: sender ? "MAIL FROM" : "RCPT TO",
        command: this.addressCommand,
        code,
        enhancedCode: sender ? "5.1.7" : "5.1.3",
        reply: String(data),
      });
    }
    // The EHLO reply (the only multi-line 250): AUTH is offered only once TLS protects the password (RFC 4954 §4).
    if (code === 250 && Array.isArray(data) && !this.secure && !this._server.options.allowInsecureAuth) {
      super.send(
        code,
        data.filter((line) => !/^AUTH /.test(line)),
        context,
      );
    } else if (typeof data === "string" && ENHANCED.test(data)) super.send(code, data, false);
    else if (code === 421 && typeof data === "string" && data.endsWith(" You talk too soon"))
      super.send(421, "4.5.0 Commands came before the greeting: wait for the 220 line, then send EHLO.", false);
    else if (code === 538) super.send(538, "5.7.11 Encryption required: send STARTTLS first, then AUTH.", false);
    else if (code === 552 && typeof data === "string" && data.startsWith("Error: message exceeds")) {
      const limit = Number(this._server.options.size);
      super.send(552, `5.3.4 The message is larger than the ${limit}-byte limit (SIZE ${limit}); nothing was stored.`, false);
    } else super.send(code, data, context);
  }

  /**
   * The replies to pipelined commands (MAIL, RCPT, DATA in one packet) leave in one write
   * rather than one each: the socket is corked until the current tick's work is done. A
   * loopback write costs the sender the receiver's side of TCP too (about 30 µs here).
   * close() ends the socket, which writes what is corked.
   */
  private gatherReplies(): void {
    const socket = this._socket;
    if (this.corked || !socket || socket.destroyed || this._upgrading) return;
    socket.cork();
    this.corked = true;
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  override _onClose(): void {
    clearTimeout(this.deadline);
    super._onClose();
  }

  /** True while the client waits for our answer: a handler (a commit, say) is still running. */
  waitingForUs(): boolean {
    return this._handlerPending || Boolean(this._dataStream && this._parser && !this._parser._dataMode);
  }

  /** Ends the session now unless it waits for our answer; then it is tried again a second later. */
  closeWhenIdle(text: string): void {
    if (this._closing || this._closed) return;
    if (!this.waitingForUs()) {
      this.send(421, text);
      return;
    }
    clearTimeout(this.deadline);
    this.deadline = setTimeout(() => this.closeWhenIdle(text), 1000);
    this.deadline.unref();
  }

  private expire(): void {
    this.closeWhenIdle("4.4.2 Session time limit reached; reconnect to send more.");
  }
}

export class IntakeServer extends SMTPServer {
  readonly sessionMs: number;
  readonly onSyntaxRefusal: ((session: SMTPServerSession, refusal: SyntaxRefusal) => void) | undefined;
  /** Milliseconds a client must stay silent before its greeting; unset: none. A failure waits EARLY_TALKER_MS. */
  readonly greetingDelayMs: ((remoteAddress: string) => number | Promise<number>) | undefined;
  private readonly bySession = new WeakMap<SMTPServerSession, SMTPConnection>();

  constructor(
    options: SMTPServerOptions & { onSyntaxRefusal?: IntakeServer["onSyntaxRefusal"]; greetingDelayMs?: IntakeServer["greetingDelayMs"] },
    sessionMs: number,
  ) {
    super(options);
    this.sessionMs = sessionMs;
    this.onSyntaxRefusal = options.onSyntaxRefusal;
    this.greetingDelayMs = options.greetingDelayMs;
  }

  /** SMTPServer#connect (smtp-server 3.21), with our connection class. */
  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new IntakeConnection(this, socket, socketOptions);
    this.connections.add(connection);
    this.bySession.set(connection.session, connection);
    connection.on("error", (err: Error) => this._onError(err));
    connection.on("connect", (data) => this._onClientConnect(data));
    connection.init();
  }

  /** Closes a session after the reply already written to it (after too many failed logins). */
  closeSession(session: SMTPServerSession): void {
    this.bySession.get(session)?.close();
  }

  /** Stops listening and ends idle sessions; a session waiting for a commit gets its answer first. */
  shutdown(): Promise<void> {
    return new Promise((resolve) => {
      this.close(() => resolve());
      for (const c of this.connections) (c as IntakeConnection).closeWhenIdle("4.3.2 Service shutting down; try again shortly.");
    });
  }
}
