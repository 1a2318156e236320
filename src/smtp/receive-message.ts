// DATA: reads the message bytes (never more than the size limit), refuses what SMTP
// smuggling relies on, and hands the exact bytes with the SMTP envelope to accept().
import type { SMTPServerDataStream, SMTPServerSession } from "smtp-server";
import { accept } from "../accept/accept.ts";
import { checkLineEndings } from "../accept/raw-message.ts";
import { now } from "../clock.ts";
import { AppError } from "../errors.ts";
import type { IntakeDeps } from "./handlers.ts";
import { normaliseIp } from "./source-ips.ts";
import { receivedHeader } from "./trace-header.ts";

/** Returns Hikyaku's id of the committed message. */
export async function receiveMessage(
  deps: IntakeDeps,
  stream: SMTPServerDataStream,
  session: SMTPServerSession,
  accountId: string | undefined,
): Promise<string> {
  const raw = await readData(stream, deps.config.HIKYAKU_MAX_MESSAGE_BYTES);
  checkLineEndings(raw, "DATA");
  // A leading space or tab would continue the Received field we put on top (RFC 5322 §2.2.3).
  if (raw[0] === 0x20 || raw[0] === 0x09) {
    const why = "DATA: the message starts with a space or tab (a folded line with no field before it); start with a header field such as From:.";
    throw new AppError("validation_error", why, { field: "raw" });
  }
  if (!accountId) throw new Error("DATA reached without an account: MAIL FROM should have refused it");
  const mailFrom = session.envelope.mailFrom;
  const accepted = await accept(deps, {
    accountId,
    channel: "smtp",
    sourceIp: normaliseIp(session.remoteAddress) ?? session.remoteAddress,
    envelopeFrom: mailFrom ? mailFrom.address : "",
    envelopeFromField: "MAIL FROM",
    recipients: session.envelope.rcptTo.map((r) => r.address),
    raw: Buffer.concat([receivedHeader(session, deps.config.HIKYAKU_HOSTNAME, now()), raw]),
  });
  return accepted.id;
}

/** Buffers at most `limit` bytes; beyond that it only counts, and refuses at the end. */
function readData(stream: SMTPServerDataStream, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) chunks.length = 0;
      else chunks.push(chunk);
    });
    stream.on("error", () => reject(new AppError("validation_error", "The connection closed before the end of the message; nothing was stored.")));
    stream.on("end", () => {
      if (size > limit) reject(new AppError("message_too_large", `The message is larger than the ${limit}-byte limit (SIZE ${limit}); nothing was stored.`));
      else resolve(Buffer.concat(chunks, size));
    });
  });
}
