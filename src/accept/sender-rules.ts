// Sender rules (SPEC F7), one module for both doors: the envelope sender is where bounces
// go, so it must be at the customer's own domain, never a free-mail provider's.
import { AppError } from "../errors.ts";
import { domainOf } from "./addresses.ts";

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
