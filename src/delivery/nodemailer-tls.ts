// What nodemailer's SMTP client knows about a session's TLS but does not say in its
// public API: whether a failure came during the STARTTLS handshake, and the verdict on
// the certificate. nodemailer's internals are read here and nowhere else; the tests of
// the connection pool (test/tls-policy.test.ts, test/mta-sts.test.ts) fail if they change.
import type { TLSSocket } from "node:tls";
import type SMTPConnection from "nodemailer/lib/smtp-connection";

/** A handshake failure in one line: OpenSSL's code and reason (`ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: tlsv1 alert protocol version`). */
export function handshakeError(err: Error & { originalCode?: string; code?: string; reason?: string }): string {
  const code = err.originalCode ?? err.code;
  const text = err.reason ?? err.message.split("\n")[0]?.trim();
  return [code, text].filter(Boolean).join(": ");
}

/** nodemailer is in the middle of STARTTLS's handshake (its own flag, unset once the session is secure). */
export function isUpgrading(conn: SMTPConnection): boolean {
  return (conn as unknown as { upgrading?: boolean }).upgrading === true;
}

/**
 * Why the session's certificate is not valid for `host` (node checks the chain and the
 * name on every handshake and keeps the verdict on the socket), or null when it is.
 * nodemailer keeps the socket in a private field.
 */
export function certificateError(conn: SMTPConnection, host: string): string | null {
  const socket = (conn as unknown as { _socket?: TLSSocket })._socket;
  if (!socket || typeof socket.authorized !== "boolean") return "the TLS session could not be inspected";
  if (socket.authorized) return null;
  const reason = socket.authorizationError;
  const text = typeof reason === "string" ? reason : reason instanceof Error ? reason.message : "not trusted";
  return `certificate not valid for ${host}: ${text}`;
}

/**
 * A logger for nodemailer that notes one thing: with opportunistic TLS, a server that
 * offers STARTTLS and then refuses it (a 454, say) leaves the session in plain text, and
 * nodemailer says so only in its log ("Failed STARTTLS upgrade"). Everything else it
 * logs is dropped, as with `logger: false`.
 */
export function startTlsRefusalWatcher(): { logger: Record<string, (...args: unknown[]) => void>; refused(): boolean } {
  let refused = false;
  const drop = () => {};
  const info = (_entry: unknown, message: unknown) => {
    if (typeof message === "string" && message.startsWith("Failed STARTTLS upgrade")) refused = true;
  };
  return { logger: { trace: drop, debug: drop, info, warn: drop, error: drop, fatal: drop }, refused: () => refused };
}
