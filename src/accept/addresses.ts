// Address parsing for both doors: each string is exactly one mailbox (never a group or
// a list, so `a@x Bcc: b@y` cannot smuggle a recipient), with a domain name, not an
// address literal.
import { domainToASCII } from "node:url";
import { AppError } from "../errors.ts";

export interface Mailbox {
  email: string;
  name?: string;
}

const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
const LOCAL_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Normalises and checks a domain; returns its ASCII (punycode) form or undefined. */
export function normaliseDomain(domain: string): string | undefined {
  if (domain.length === 0 || domain.length > 253 || domain.startsWith("[")) return undefined;
  const ascii = /^[\x00-\x7f]*$/.test(domain) ? domain.toLowerCase() : domainToASCII(domain);
  if (!ascii || ascii.length > 253) return undefined;
  const labels = ascii.split(".");
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return undefined;
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) return undefined; // an IP address, not a name
  return ascii;
}

/** Checks one bare address (`local@domain`) and returns it with its domain lower-cased. */
export function checkEmail(email: string, field: string): string {
  const fail = (why: string) => new AppError("invalid_address", `${field}: "${truncate(email)}" is not a valid email address (${why}).`, { field });
  if (email.length > 254) throw fail("longer than 254 characters");
  if (CONTROL.test(email) || /\s/.test(email)) throw fail("it contains spaces or control characters");
  const at = email.lastIndexOf("@");
  if (at <= 0) throw fail("it needs one local part, an @ and a domain");
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (Buffer.byteLength(local) > 64) throw fail("the part before @ is longer than 64 octets");
  if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) throw fail("misplaced dot before @");
  if (!local.split(".").every((atom) => LOCAL_ATOM.test(atom))) throw fail("characters not allowed before @");
  if (domain.startsWith("[")) throw fail("address literals such as [127.0.0.1] are not accepted; use a domain name");
  const ascii = normaliseDomain(domain);
  if (!ascii) throw fail(`"${truncate(domain)}" is not a valid domain name`);
  return `${local}@${ascii}`;
}

/**
 * `display-name <addr-spec>`. A quoted name may hold anything but an unescaped quote; an
 * unquoted one none of the characters that would make the string a list, a group or a
 * second address (`, ; : @ < > "`).
 */
const NAME_ADDR = /^(?:"((?:[^"\\]|\\.)*)"|([^"<>@,;:\\]*?))\s*<([^<>]*)>$/;

/**
 * Parses `a@b`, `Name <a@b>` or `{ email, name }` as exactly one mailbox. Deliberately
 * stricter than RFC 5322 parsers such as nodemailer's, which read `a b@c` as the name
 * "a" and the address b@c, and `a@x Bcc: b@y` as a group.
 */
export function parseMailbox(input: string | Mailbox, field: string): Mailbox {
  if (typeof input !== "string") {
    const name = input.name?.trim();
    if (name && CONTROL.test(name)) {
      throw new AppError("invalid_address", `${field}.name must not contain line breaks or control characters.`, { field: `${field}.name` });
    }
    return { email: checkEmail(input.email.trim(), `${field}.email`), ...(name ? { name } : {}) };
  }
  if (CONTROL.test(input)) {
    throw new AppError("invalid_address", `${field} must not contain line breaks or control characters.`, { field });
  }
  const text = input.trim();
  const m = NAME_ADDR.exec(text);
  if (!m && /[\s<>",;:]/.test(text)) {
    throw new AppError("invalid_address", `${field}: "${truncate(input)}" must be exactly one address, like "a@example.com" or "Name <a@example.com>".`, {
      field,
    });
  }
  const email = checkEmail(m ? (m[3] ?? "") : text, field);
  const name = (m?.[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m?.[2])?.trim();
  return name ? { email, name } : { email };
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function domainOf(email: string): string {
  return email.slice(email.lastIndexOf("@") + 1);
}
