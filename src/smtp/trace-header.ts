// The Received trace field the SMTP door adds (RFC 5321 §4.4): who handed the message
// over, from where, and how. It names no recipient, so Bcc recipients stay hidden.
import type { SMTPServerSession } from "smtp-server";

export function receivedHeader(session: SMTPServerSession, hostname: string, at: Date): Buffer {
  const helo = session.hostNameAppearsAs || "unknown";
  const ip = session.remoteAddress.includes(":") ? `IPv6:${session.remoteAddress}` : session.remoteAddress;
  const date = at.toUTCString().replace("GMT", "+0000");
  return Buffer.from(`Received: from ${helo} ([${ip}])\r\n\tby ${hostname} (Hikyaku) with ${session.transmissionType};\r\n\t${date}\r\n`, "utf8");
}
