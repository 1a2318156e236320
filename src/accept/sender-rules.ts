// Sender rules (SPEC F6, F7), one module for both doors: the envelope sender is where
// bounces go, so it must be at the customer's own domain, never a free-mail provider's;
// and neither it nor the From address may be at a domain another account verified.
import addressparser from "nodemailer/lib/addressparser";
import type { Db } from "../db/client.ts";
import { ownerOf } from "../domains/domain-owner.ts";
import { AppError } from "../errors.ts";
import { domainOf, normaliseDomain } from "./addresses.ts";
import { fieldValue, type HeaderField } from "./raw-message.ts";

/** Free-mail and mobile-carrier domains; a subdomain of one counts as the provider's too. */
export const FREE_MAIL_DOMAINS: ReadonlySet<string> = new Set([
  // Google, Yahoo, Microsoft, Apple, AOL
  "gmail.com",
  "googlemail.com",
  "yahoo.co.jp",
  "yahoo.com",
  "yahoo.co.uk",
  "yahoo.fr",
  "yahoo.de",
  "ymail.com",
  "rocketmail.com",
  "outlook.com",
  "outlook.jp",
  "hotmail.com",
  "hotmail.co.jp",
  "hotmail.co.uk",
  "hotmail.fr",
  "live.com",
  "live.jp",
  "msn.com",
  "icloud.com",
  "me.com",
  "mac.com",
  "aol.com",
  "aim.com",
  // Japanese mobile carriers
  "docomo.ne.jp",
  "ezweb.ne.jp",
  "au.com",
  "softbank.ne.jp",
  "i.softbank.jp",
  "disney.ne.jp",
  "ymobile.ne.jp",
  "y-mobile.ne.jp",
  "emobile.ne.jp",
  "pdx.ne.jp",
  "willcom.com",
  "wcm.ne.jp",
  "uqmobile.jp",
  "rakumail.jp",
  // Other large webmail providers
  "proton.me",
  "protonmail.com",
  "pm.me",
  "gmx.com",
  "gmx.net",
  "gmx.de",
  "web.de",
  "mail.com",
  "zoho.com",
  "yandex.ru",
  "yandex.com",
  "mail.ru",
  "qq.com",
  "163.com",
  "126.com",
  "naver.com",
  "hanmail.net",
  "daum.net",
]);

/** The free-mail domain `domain` belongs to (itself or a parent), or undefined. */
export function freeMailProvider(domain: string): string | undefined {
  const labels = domain.toLowerCase().replace(/\.$/, "").split(".");
  for (let i = 0; i < labels.length - 1; i++) {
    const candidate = labels.slice(i).join(".");
    if (FREE_MAIL_DOMAINS.has(candidate)) return candidate;
  }
  return undefined;
}

export interface SenderContext {
  /** The request field that named the envelope sender, for the error's `field`. */
  field: string;
  /** True only for the service's own bounces: they alone may use the empty sender. */
  internal: boolean;
}

/** Refuses an envelope sender that bounces could not come back to. `address` is already syntax-checked. */
export function checkEnvelopeSender(address: string, ctx: SenderContext): void {
  if (address === "") {
    if (ctx.internal) return;
    throw new AppError(
      "sender_refused",
      "An empty envelope sender is only for the service's own bounces. Give a return path at your own domain, where bounces must come back.",
      { field: ctx.field },
    );
  }
  const provider = freeMailProvider(domainOf(address));
  if (!provider) return;
  throw new AppError(
    "sender_refused",
    `The envelope sender ${address} is at ${provider}, a free-mail provider. Bounces must come back to the sender's own domain: use a return path at a domain you control, such as bounces@your-shop.example.`,
    { field: ctx.field },
  );
}

export interface SenderDomain {
  domain: string;
  /** Names the address in the refusal: "The From address", "The envelope sender". */
  what: string;
  field: string;
}

/**
 * Refuses mail whose sender domains (From and envelope sender, subdomains included) are
 * verified by another account: verification is the proof of ownership (F6). Unverified
 * and unregistered domains pass; DMARC at the destination is their owner's business.
 */
export async function checkDomainOwners(db: Db, accountId: string, senders: SenderDomain[]): Promise<void> {
  const owners = await Promise.all(senders.map((s) => ownerOf(db, s.domain)));
  senders.forEach((s, i) => {
    const owner = owners[i];
    if (!owner || owner.accountId === accountId) return;
    const via = owner.domain === s.domain ? "" : ` (through ${owner.domain})`;
    throw new AppError(
      "sender_refused",
      `${s.what} is at ${s.domain}, which another Hikyaku account has verified as its own${via}; mail from it is refused. Send from a domain this account has registered and verified (POST /v1/domains, then its verify).`,
      { field: s.field },
    );
  });
}

/** The domains (ASCII, lower case) of every address in every From field. */
export function fromDomains(headers: HeaderField[]): string[] {
  const domains = new Set<string>();
  for (const h of headers) {
    if (h.lower !== "from") continue;
    for (const a of addressparser(fieldValue(h), { flatten: true })) {
      const domain = a.address ? normaliseDomain(domainOf(a.address)) : undefined;
      if (domain) domains.add(domain);
    }
  }
  return [...domains];
}
