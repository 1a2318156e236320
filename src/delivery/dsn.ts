// Delivery status notifications (RFC 3464): one multipart/report per message and
// failure batch, to the envelope sender, from MAILER-DAEMON, with an empty envelope
// sender, sent through the same accept pipeline as any other message. Never to an empty
// envelope sender (so never a bounce to a bounce), and not when the account turned
// bounces off.
import { randomBytes } from "node:crypto";
import { now } from "../clock.ts";

export interface FailedRecipient {
  address: string;
  action: "failed";
  status: string;
  diagnostic: string;
  remoteMta: string | null;
}

export interface DsnSource {
  id: string;
  accountId: string;
  envelopeFrom: string;
  createdAt: Date;
  raw: Buffer;
}

const rfc5322Date = (d: Date) => d.toUTCString().replace("GMT", "+0000");

export function buildDsn(hostname: string, msg: DsnSource, failed: FailedRecipient[]): Buffer {
  const boundary = `hikyaku-report-${randomBytes(8).toString("hex")}`;
  const at = now();
  const originalHeaders = msg.raw.subarray(0, headerEnd(msg.raw)).toString("latin1");
  const human = [
    "This is the mail delivery system at " + hostname + ".",
    "",
    "Your message could not be delivered to the following recipients:",
    "",
    ...failed.map((f) => fold(`  <${f.address}>:`, f.diagnostic)),
    "",
    `Hikyaku message id: ${msg.id}`,
  ].join("\r\n");
  const perRecipient = failed
    .map((f) =>
      [
        `Final-Recipient: rfc822; ${f.address}`,
        `Action: ${f.action}`,
        `Status: ${f.status}`,
        ...(f.remoteMta ? [`Remote-MTA: dns; ${f.remoteMta}`] : []),
        fold("Diagnostic-Code: smtp;", f.diagnostic),
        `Last-Attempt-Date: ${rfc5322Date(at)}`,
      ].join("\r\n"),
    )
    .join("\r\n\r\n");
  const text = [
    `From: Mail Delivery System <MAILER-DAEMON@${hostname}>`,
    `To: <${msg.envelopeFrom}>`,
    "Subject: Undelivered Mail Returned to Sender",
    `Date: ${rfc5322Date(at)}`,
    `Message-ID: <dsn-${msg.id}-${randomBytes(4).toString("hex")}@${hostname}>`,
    "Auto-Submitted: auto-replied",
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=utf-8",
    "",
    human,
    "",
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "",
    `Reporting-MTA: dns; ${hostname}`,
    `X-Hikyaku-Message-Id: ${msg.id}`,
    `Arrival-Date: ${rfc5322Date(msg.createdAt)}`,
    "",
    perRecipient,
    "",
    `--${boundary}`,
    "Content-Type: text/rfc822-headers",
    "",
    "",
  ].join("\r\n");
  // Our own text is UTF-8 (the destination's words may be); the original header lines are
  // put back as the bytes they were, whatever their charset.
  return Buffer.concat([Buffer.from(text, "utf8"), Buffer.from(originalHeaders, "latin1"), Buffer.from(`\r\n--${boundary}--\r\n`)]);
}

/**
 * `prefix` and the words of `text` (a destination's reply may hold line breaks and run to
 * 1,000 characters) on lines of at most 78 characters where the words allow, each further
 * line starting with a space: a folded field, and never a line over 998 octets.
 */
function fold(prefix: string, text: string): string {
  const lines = [prefix];
  for (const word of text
    .trim()
    .split(/\s+/)
    .flatMap((w) => w.match(/.{1,200}/gu) ?? [])) {
    const i = lines.length - 1;
    if ((lines[i] as string).length + 1 + word.length > 78) lines.push(` ${word}`);
    else lines[i] += ` ${word}`;
  }
  return lines.join("\r\n");
}

function headerEnd(raw: Buffer): number {
  const i = raw.indexOf("\r\n\r\n");
  return i === -1 ? raw.length : i + 2;
}
