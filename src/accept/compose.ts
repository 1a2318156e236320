// Turns the HTTP door's structured JSON into an RFC 5322 message with nodemailer's
// MailComposer. Bcc recipients go only into the envelope, never into a header. Its bytes
// are the ones that go on the wire: CRLF line breaks only, no line over 998 octets.
import MailComposer from "nodemailer/lib/mail-composer";
import { detectMimeType } from "nodemailer/lib/mime-funcs";
import type MimeNode from "nodemailer/lib/mime-node";
import { AppError } from "../errors.ts";
import type { Mailbox } from "./addresses.ts";
import { buildInline } from "./mime-build.ts";
import { MAX_LINE_OCTETS, normaliseLineEndings, wireProblem } from "./raw-message.ts";

export interface Attachment {
  filename: string;
  content: string;
  content_type?: string;
  content_id?: string;
}

export interface ComposeInput {
  from: Mailbox;
  to: Mailbox[];
  cc: Mailbox[];
  replyTo: Mailbox[];
  subject?: string;
  text?: string;
  html?: string;
  headers?: Record<string, string>;
  attachments?: Attachment[];
  messageId: string;
  date: Date;
}

/** Headers with a field of their own, or that the service itself must control. */
const RESERVED = new Set([
  "from",
  "to",
  "cc",
  "bcc",
  "reply-to",
  "subject",
  "sender",
  "date",
  "message-id",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "content-disposition",
  "return-path",
  "received",
  "dkim-signature",
  "arc-seal",
  "arc-message-signature",
  "arc-authentication-results",
  "authentication-results",
]);
const FIELD_NAME = /^[!-9;-~]{1,76}$/;
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function checkText(value: string | undefined, field: string): void {
  if (value !== undefined && CONTROL.test(value)) {
    throw new AppError("validation_error", `${field} must not contain line breaks or control characters.`, { field });
  }
}

function checkHeaders(headers: Record<string, string>): { key: string; value: string }[] {
  return Object.entries(headers).map(([key, value]) => {
    const field = `headers.${key}`;
    if (!FIELD_NAME.test(key)) throw new AppError("validation_error", `${field}: "${key.slice(0, 40)}" is not a valid header name.`, { field });
    const lower = key.toLowerCase();
    if (RESERVED.has(lower)) {
      throw new AppError("validation_error", `${field}: ${key} may not be set through headers; use the message's own fields.`, { field });
    }
    if (lower.startsWith("x-hikyaku-")) {
      throw new AppError("validation_error", `${field}: use the JSON fields (send_at, lifetime, …) instead of X-Hikyaku-* headers.`, { field });
    }
    checkText(value, field);
    if (Buffer.byteLength(value) > 990 - key.length) throw new AppError("validation_error", `${field} is longer than a header line may be.`, { field });
    return { key, value };
  });
}

function decodeAttachment(a: Attachment, i: number): { filename: string; content: Buffer; contentType?: string; cid?: string } {
  const field = `attachments[${i}]`;
  checkText(a.filename, `${field}.filename`);
  checkText(a.content_type, `${field}.content_type`);
  checkText(a.content_id, `${field}.content_id`);
  const b64 = a.content.replace(/\s+/g, "");
  if (!BASE64.test(b64)) throw new AppError("validation_error", `${field}.content is not valid base64.`, { field: `${field}.content` });
  if (a.content_type !== undefined && !/^[\w.+-]+\/[\w.+-]+(\s*;.*)?$/.test(a.content_type)) {
    throw new AppError("validation_error", `${field}.content_type "${a.content_type.slice(0, 60)}" is not a MIME type like application/pdf.`, {
      field: `${field}.content_type`,
    });
  }
  let content: Buffer = Buffer.from(b64, "base64");
  if (/^message\//i.test(a.content_type ?? detectMimeType(a.filename))) {
    // A message/* part (a .eml file, say) cannot be encoded (RFC 2046 §5.2.1): its lines go on the wire as they are.
    content = normaliseLineEndings(content);
    const problem = wireProblem(content);
    if (problem) throw new AppError("validation_error", `${field}.content: the attached message contains ${problem}.`, { field: `${field}.content` });
  }
  return {
    filename: a.filename,
    content,
    ...(a.content_type ? { contentType: a.content_type } : {}),
    ...(a.content_id ? { cid: a.content_id } : {}),
  };
}

const crlf = (text: string) => text.replace(/\r\n|\r|\n/g, "\r\n");
const addr = (m: Mailbox) => (m.name ? { name: m.name, address: m.email } : m.email);

export async function compose(input: ComposeInput): Promise<Buffer> {
  const root = composeTree(input);
  const raw = buildInline(root) ?? (await root.build());
  checkHeaderLines(raw);
  return raw;
}

/**
 * nodemailer folds header fields at spaces and encodes non-ASCII words, but a run of over
 * 998 ASCII characters without a space (a subject, a display name, a file name) it cannot
 * fold: refuse it, naming the field it came from.
 */
function checkHeaderLines(raw: Buffer): void {
  for (let start = 0, end = raw.indexOf("\r\n"); end !== -1; start = end + 2, end = raw.indexOf("\r\n", start)) {
    if (end - start <= MAX_LINE_OCTETS) continue;
    const name = fieldNameAt(raw, start).toLowerCase();
    const field = FIELD_OF_HEADER[name] ?? (name.startsWith("content-") ? "attachments" : `headers.${name}`);
    throw new AppError(
      "validation_error",
      `${field}: a word without spaces this long cannot be folded into header lines of at most ${MAX_LINE_OCTETS} octets; shorten it or put spaces in it.`,
      { field },
    );
  }
}

/** The name of the header field that the (possibly folded) line at `start` belongs to. */
function fieldNameAt(raw: Buffer, start: number): string {
  let s = start;
  while (s > 0 && (raw[s] === 0x20 || raw[s] === 0x09)) {
    const previous = s < 3 ? -1 : raw.lastIndexOf("\r\n", s - 3); // a negative offset would count from the end
    s = previous === -1 ? 0 : previous + 2;
  }
  return raw.toString("latin1", s, Math.max(s, raw.indexOf(":", s)));
}

const FIELD_OF_HEADER: Record<string, string> = { from: "from", to: "to", cc: "cc", "reply-to": "reply_to", subject: "subject" };

/** The checked input as MailComposer's compiled MIME tree, not yet written out. */
export function composeTree(input: ComposeInput): MimeNode {
  checkText(input.subject, "subject");
  const headers = checkHeaders(input.headers ?? {});
  const attachments = (input.attachments ?? []).map(decodeAttachment);
  const composer = new MailComposer({
    from: addr(input.from),
    to: input.to.map(addr),
    ...(input.cc.length ? { cc: input.cc.map(addr) } : {}),
    ...(input.replyTo.length ? { replyTo: input.replyTo.map(addr) } : {}),
    subject: input.subject ?? "",
    // MIME text is CRLF-broken (RFC 2046 §4.1.1); nodemailer keeps a lone LF or CR as it is,
    // and the SMTP client would turn it into CRLF on the wire, after signing.
    ...(input.text !== undefined ? { text: crlf(input.text) } : {}),
    ...(input.html !== undefined ? { html: crlf(input.html) } : {}),
    headers,
    attachments,
    messageId: `<${input.messageId}>`,
    date: input.date,
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return composer.compile();
}
