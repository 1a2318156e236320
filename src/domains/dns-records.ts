// The DNS records a customer publishes for a sending domain: one DKIM TXT record per key
// that is not retired, the SPF include, and a DMARC starting point.
import type { Config } from "../config.ts";
import type { DkimAlgorithm } from "./key-generation.ts";

export type RecordPurpose = "dkim" | "spf" | "dmarc";

export interface DnsRecord {
  purpose: RecordPurpose;
  type: "TXT";
  name: string;
  /** The whole value; `strings` is the same split into DNS character-strings. */
  value: string;
  strings: string[];
  /** Only the RSA DKIM record is needed before Hikyaku signs; the others are for receivers' checks. */
  required: boolean;
  selector?: string;
  algorithm?: DkimAlgorithm;
}

export interface PublishedKey {
  selector: string;
  algorithm: DkimAlgorithm;
  publicKey: string;
  state: string;
}

export function spfInclude(config: Config): string {
  return config.HIKYAKU_SPF_INCLUDE ?? `_spf.${config.HIKYAKU_HOSTNAME}`;
}

export const dkimName = (selector: string, domain: string) => `${selector}._domainkey.${domain}`;
export const dkimValue = (key: Pick<PublishedKey, "algorithm" | "publicKey">) =>
  `v=DKIM1; k=${key.algorithm === "rsa-sha256" ? "rsa" : "ed25519"}; p=${key.publicKey}`;

export function dnsRecords(domain: string, keys: PublishedKey[], config: Config): DnsRecord[] {
  const dkim = keys
    .filter((k) => k.state !== "retired")
    .map((k): DnsRecord => {
      const value = dkimValue(k);
      return {
        purpose: "dkim",
        type: "TXT",
        name: dkimName(k.selector, domain),
        value,
        strings: splitTxt(value),
        required: k.algorithm === "rsa-sha256",
        selector: k.selector,
        algorithm: k.algorithm,
      };
    });
  const spf = `v=spf1 include:${spfInclude(config)} ~all`;
  const dmarc = "v=DMARC1; p=none; adkim=r; aspf=r";
  return [
    ...dkim,
    { purpose: "spf", type: "TXT", name: domain, value: spf, strings: splitTxt(spf), required: false },
    { purpose: "dmarc", type: "TXT", name: `_dmarc.${domain}`, value: dmarc, strings: splitTxt(dmarc), required: false },
  ];
}

/** A TXT value as character-strings of at most 255 bytes (RFC 1035 §3.3). Values here are ASCII. */
export function splitTxt(value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 255) out.push(value.slice(i, i + 255));
  return out.length ? out : [""];
}
