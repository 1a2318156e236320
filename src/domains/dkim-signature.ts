// Builds DKIM-Signature header fields (RFC 6376, relaxed/relaxed, no l= tag) for a message
// whose bytes stay exactly as they are: the new fields are prepended, nothing else changes.
// rsa-sha256 and ed25519-sha256 (RFC 8463) share the canonicalization and body hash.
import { createHash, type KeyObject, sign } from "node:crypto";
import type { HeaderField } from "../accept/raw-message.ts";
import { relaxedBody, relaxedHeader } from "./canonicalize.ts";
import type { DkimAlgorithm } from "./key-generation.ts";

export interface Signer {
  algorithm: DkimAlgorithm;
  domain: string;
  selector: string;
  privateKey: KeyObject;
}

/** Fields a receiver shows or acts on. Each present one is signed as often as it occurs. */
const SIGNED = [
  "from",
  "sender",
  "reply-to",
  "subject",
  "date",
  "message-id",
  "to",
  "cc",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "content-id",
  "content-description",
  "in-reply-to",
  "references",
  "list-id",
  "list-help",
  "list-unsubscribe",
  "list-unsubscribe-post",
  "list-subscribe",
  "list-post",
  "list-owner",
  "list-archive",
  "feedback-id",
  "resent-date",
  "resent-from",
  "resent-sender",
  "resent-to",
  "resent-cc",
  "resent-message-id",
];
/** Fields that occur once: signed one extra time, so a copy prepended later breaks the signature. */
const OVERSIGNED = new Set([
  "from",
  "sender",
  "reply-to",
  "subject",
  "date",
  "message-id",
  "to",
  "cc",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "list-unsubscribe",
  "list-unsubscribe-post",
]);

/** One DKIM-Signature field per signer, in the given order, to be put above the message's own. */
export function dkimSignatures(signers: Signer[], headers: HeaderField[], body: Buffer, at: Date): HeaderField[] {
  if (signers.length === 0) return [];
  const bodyHash = createHash("sha256").update(relaxedBody(body)).digest("base64");
  const names = signedNames(headers);
  const signedData = canonicalHeaders(headers, names);
  const time = Math.floor(at.getTime() / 1000);
  return signers.map((s) => {
    const unsigned = unsignedField(s, names, bodyHash, time);
    const data = Buffer.from(signedData + relaxedHeader({ name: "DKIM-Signature", lower: "dkim-signature", raw: unsigned }).replace(/\r\n$/, ""), "latin1");
    const b = s.algorithm === "rsa-sha256" ? sign("sha256", data, s.privateKey) : sign(null, createHash("sha256").update(data).digest(), s.privateKey);
    const raw = `${unsigned.replace(/\r\n$/, "")}${fold(b.toString("base64"))}\r\n`;
    return { name: "DKIM-Signature", lower: "dkim-signature", raw };
  });
}

function signedNames(headers: HeaderField[]): string[] {
  const count = new Map<string, number>();
  for (const h of headers) count.set(h.lower, (count.get(h.lower) ?? 0) + 1);
  return SIGNED.flatMap((name) => {
    const n = count.get(name) ?? 0;
    return n === 0 ? [] : Array<string>(n + (OVERSIGNED.has(name) ? 1 : 0)).fill(name);
  });
}

/** The fields `names` selects, each name taking the next instance from the bottom (RFC 6376 §5.4.2). */
function canonicalHeaders(headers: HeaderField[], names: string[]): string {
  const used = new Map<string, number>();
  let out = "";
  for (const name of names) {
    const instances = headers.filter((h) => h.lower === name);
    const taken = used.get(name) ?? 0;
    used.set(name, taken + 1);
    const field = instances[instances.length - 1 - taken];
    if (field) out += relaxedHeader(field);
  }
  return out;
}

/** The field with an empty b= tag, folded below 78 columns, ending in CRLF. */
function unsignedField(s: Signer, names: string[], bodyHash: string, time: number): string {
  const lines = [`DKIM-Signature: v=1; a=${s.algorithm}; c=relaxed/relaxed; d=${s.domain};`, ` s=${s.selector}; t=${time};`];
  let line = " h=";
  for (const [i, name] of names.entries()) {
    const piece = `${name}${i < names.length - 1 ? ":" : ";"}`;
    if (line.length + piece.length > 76) {
      lines.push(line);
      line = " ";
    }
    line += piece;
  }
  lines.push(line, ` bh=${bodyHash};`, " b=");
  return `${lines.join("\r\n")}\r\n`;
}

function fold(b64: string): string {
  const parts: string[] = [];
  for (let i = 0; i < b64.length; i += 72) parts.push(b64.slice(i, i + 72));
  return parts.join("\r\n ");
}
