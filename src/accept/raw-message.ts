// Byte-exact handling of an RFC 5322 message: split the header fields without
// re-encoding anything, so fields we keep (and any DKIM signature over them) stay
// exactly as the sender wrote them.
import { AppError } from "../errors.ts";

export interface HeaderField {
  /** Field name as written. */
  name: string;
  lower: string;
  /** The whole field, folded lines included, ending in CRLF; latin1 so bytes round-trip. */
  raw: string;
}

export interface RawMessage {
  headers: HeaderField[];
  body: Buffer;
}

const FIELD_NAME = /^[!-9;-~]+$/;

/** RFC 5322 §2.1.1: at most 998 octets before the CRLF, on the wire and so in storage. */
export const MAX_LINE_OCTETS = 998;

/**
 * Refuses what SMTP smuggling and header injection rely on: NUL, bare CR, bare LF
 * (RFC 5321 §2.3.8); and body lines over 998 octets, which a relay on the way may break
 * and so break the DKIM signature (header lines are parseRaw's to refuse). `door` names
 * the submission's origin in the sentence.
 */
export function checkLineEndings(raw: Buffer, door: string): void {
  const problem = wireProblem(raw, { headerLines: false });
  if (problem) throw new AppError("validation_error", `${door}: the message contains ${problem}.`, { field: "raw" });
}

/**
 * What keeps `raw` from being sent as it is, or undefined: the stored message must be the
 * bytes that go on the wire, so that the DKIM signature is computed over exactly those.
 */
export function wireProblem(raw: Buffer, opts: { headerLines?: boolean; finalCrlf?: boolean } = {}): string | undefined {
  if (raw.includes(0)) return "a NUL byte";
  for (let i = raw.indexOf(13); i !== -1; i = raw.indexOf(13, i + 1)) {
    if (raw[i + 1] !== 10) return "a bare CR (carriage return without line feed); lines must end in CRLF";
  }
  const bodyStart = opts.headerLines === false ? headerBlockEnd(raw) : 0;
  let lineStart = 0;
  for (let i = raw.indexOf(10); i !== -1; i = raw.indexOf(10, i + 1)) {
    if (raw[i - 1] !== 13) return "a bare LF (line feed without carriage return); lines must end in CRLF";
    if (lineStart >= bodyStart && i - 1 - lineStart > MAX_LINE_OCTETS) return longLine(i - 1 - lineStart);
    lineStart = i + 1;
  }
  if (lineStart >= bodyStart && raw.length - lineStart > MAX_LINE_OCTETS) return longLine(raw.length - lineStart);
  if (opts.finalCrlf && raw.length > 0 && raw[raw.length - 1] !== 10) return "no CRLF at its end";
  return undefined;
}

const longLine = (n: number) => `a line of ${n} octets; RFC 5322 section 2.1.1 allows ${MAX_LINE_OCTETS}: encode such a part as quoted-printable or base64`;

/** Where the body starts: after the first empty line (the whole message when there is none). */
function headerBlockEnd(raw: Buffer): number {
  if (raw.subarray(0, 2).toString("latin1") === "\r\n") return 0;
  const i = raw.indexOf("\r\n\r\n");
  return i === -1 ? raw.length : i + 4;
}

/** Turns lone LF (and lone CR) line endings into CRLF and ends the message in CRLF, as SMTP DATA would: for JSON clients that write "\n". */
export function normaliseLineEndings(raw: Buffer): Buffer {
  const text = raw.toString("latin1").replace(/\r\n|\r|\n/g, "\r\n");
  return Buffer.from(text.length === 0 || text.endsWith("\r\n") ? text : `${text}\r\n`, "latin1");
}

export function parseRaw(raw: Buffer): RawMessage {
  let end = raw.indexOf("\r\n\r\n");
  const headerEnd = end === -1 ? raw.length : end + 2;
  if (end === -1 && raw.subarray(-2).toString() !== "\r\n") end = raw.length;
  const text = raw.subarray(0, headerEnd).toString("latin1");
  const body = end === -1 || end + 4 > raw.length ? Buffer.alloc(0) : raw.subarray(end + 4);
  const headers: HeaderField[] = [];
  for (const line of text.split(/(?<=\r\n)/)) {
    if (line === "" || line === "\r\n") continue;
    if (Buffer.byteLength(line, "latin1") > 1000) {
      throw new AppError("validation_error", "A header line is longer than 998 octets (RFC 5322 section 2.1.1).", { field: "raw" });
    }
    if (line.startsWith(" ") || line.startsWith("\t")) {
      const last = headers[headers.length - 1];
      if (!last) throw new AppError("validation_error", "The message starts with a folded header line.", { field: "raw" });
      last.raw += line;
      continue;
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!FIELD_NAME.test(name)) {
      throw new AppError("validation_error", `The header line "${line.slice(0, 40).trim()}" has no valid field name.`, { field: "raw" });
    }
    headers.push({ name, lower: name.toLowerCase(), raw: line.endsWith("\r\n") ? line : `${line}\r\n` });
  }
  return { headers, body };
}

export function serialise(msg: RawMessage): Buffer {
  return Buffer.concat([Buffer.from(msg.headers.map((h) => h.raw).join(""), "latin1"), Buffer.from("\r\n"), msg.body]);
}

/** The field's value, unfolded and decoded as UTF-8, without leading space. */
export function fieldValue(field: HeaderField): string {
  const value = field.raw
    .slice(field.name.length + 1)
    .replace(/\r\n(?=[ \t])/g, "")
    .replace(/\r\n$/, "");
  return Buffer.from(value, "latin1").toString("utf8").trim();
}

export function makeField(name: string, value: string): HeaderField {
  return { name, lower: name.toLowerCase(), raw: Buffer.from(`${name}: ${value}\r\n`, "utf8").toString("latin1") };
}
