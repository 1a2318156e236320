// DKIM "relaxed" canonicalization (RFC 6376 §3.4.2, §3.4.4) over bytes. Strings here are
// latin1, one char per byte, and only SP and HTAB count as whitespace: 8-bit bodies in
// any charset, and Unicode spaces such as U+3000, pass through untouched.
import type { HeaderField } from "../accept/raw-message.ts";

/** `name:value\r\n` with the name lower-cased, the value unfolded and its whitespace runs reduced. */
export function relaxedHeader(field: HeaderField): string {
  const colon = field.raw.indexOf(":");
  const name = field.raw
    .slice(0, colon)
    .replace(/[ \t]+$/, "")
    .toLowerCase();
  const value = field.raw
    .slice(colon + 1)
    .replace(/\r\n$/, "")
    .replace(/\r\n(?=[ \t])/g, "")
    .replace(/[ \t]+/g, " ")
    .replace(/^ | $/g, "");
  return `${name}:${value}\r\n`;
}

/** The body with trailing whitespace of each line removed, runs reduced, and trailing empty lines dropped. */
export function relaxedBody(body: Buffer): Buffer {
  const text = body
    .toString("latin1")
    .replace(/[ \t]+/g, " ")
    .replace(/ (?=\r\n|$)/g, "");
  let end = text.length;
  while (end >= 2 && text.charCodeAt(end - 2) === 13 && text.charCodeAt(end - 1) === 10) end -= 2;
  if (end === 0) return Buffer.alloc(0);
  return Buffer.from(`${text.slice(0, end)}\r\n`, "latin1");
}
