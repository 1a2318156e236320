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

/**
 * Refuses what SMTP smuggling and header injection rely on: NUL, bare CR, bare LF
 * (RFC 5321 §2.3.8). `door` names the submission's origin in the sentence.
 */
export function checkLineEndings(raw: Buffer, door: string): void {
  if (raw.includes(0)) throw new AppError("validation_error", `${door}: the message contains a NUL byte.`, { field: "raw" });
  for (let i = raw.indexOf(13); i !== -1; i = raw.indexOf(13, i + 1)) {
    if (raw[i + 1] !== 10) throw bad(door, "a bare CR (carriage return without line feed)");
  }
  for (let i = raw.indexOf(10); i !== -1; i = raw.indexOf(10, i + 1)) {
    if (raw[i - 1] !== 13) throw bad(door, "a bare LF (line feed without carriage return)");
  }
}

function bad(door: string, what: string): AppError {
  return new AppError("validation_error", `${door}: the message contains ${what}; lines must end in CRLF.`, { field: "raw" });
}

/** Turns lone LF (and lone CR) line endings into CRLF: for JSON clients that write "\n". */
export function normaliseLineEndings(raw: Buffer): Buffer {
  if (!raw.includes(10) && !raw.includes(13)) return raw;
  return Buffer.from(raw.toString("latin1").replace(/\r\n|\r|\n/g, "\r\n"), "latin1");
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
      throw new AppError("validation_error", "A header line is longer than 998 octets (RFC 5322 §2.1.1).", { field: "raw" });
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
