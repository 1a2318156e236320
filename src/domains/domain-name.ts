// Checks a sending domain's name as a customer typed it and returns its stored form:
// lower-case ASCII, IDNs in punycode. Each refusal says what is wrong with the name.
import { isIP } from "node:net";
import { domainToUnicode } from "node:url";
import { normaliseDomain } from "../accept/addresses.ts";
import { freeMailProvider } from "../accept/sender-rules.ts";
import { AppError } from "../errors.ts";

export function checkDomainName(input: string, field = "domain"): string {
  const name = input.trim().replace(/\.$/, "");
  const fail = (why: string) =>
    new AppError("validation_error", `${field}: "${name.slice(0, 80)}" is not a domain name you can send from (${why}).`, { field });
  if (name === "") throw fail("it is empty");
  if (isIP(name) || name.startsWith("[")) throw fail("it is an IP address; give a domain name such as shop.example");
  if (name.length > 253) throw fail("it is longer than 253 characters");
  if (name.includes("_")) throw fail("underscores are not allowed in a host name");
  if (name.split(".").some((l) => l === "")) throw fail("it has an empty label (two dots in a row, or a leading dot)");
  const ascii = normaliseDomain(name);
  if (!ascii) throw fail("each label must be 1-63 letters, digits or hyphens, not starting or ending with a hyphen, and it needs at least two labels");
  const provider = freeMailProvider(ascii);
  if (provider) throw fail(`${provider} belongs to a free-mail provider; register a domain whose DNS you control`);
  return ascii;
}

/** The form to show people: `xn--` labels decoded. */
export function unicodeName(ascii: string): string {
  return domainToUnicode(ascii) || ascii;
}

/** A path parameter as stored, or undefined when it cannot be a registered domain. */
export function lookupName(input: string): string | undefined {
  return normaliseDomain(input.trim().replace(/\.$/, ""));
}
