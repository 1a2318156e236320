// Delivery outcomes are values. The SMTP layer only reports what happened to each
// recipient; the job layer decides what happens next (retry, bounce, expire).
import type { ServiceCode } from "./service-codes.ts";

export type OutcomeKind = "delivered" | "deferred" | "bounced";

export interface Outcome {
  kind: OutcomeKind;
  code: number;
  enhanced: string | null;
  /** The destination's own words, or Hikyaku's service reply. */
  response: string;
  source: "destination" | "hikyaku";
  /** Set for Hikyaku's own codes. */
  service?: ServiceCode;
  mxHost: string | null;
  mxIp: string | null;
  tls: boolean | null;
  /** The destination offered STARTTLS, the handshake failed, and the session went on in plain text. Unset: no session. */
  tlsFallback?: boolean;
  /** Why the session's TLS is what it is, when that needs saying: the fallback's cause, or what an MTA-STS `testing` policy would have refused. */
  tlsDetail?: string;
}

/** Classifies an SMTP reply code: 2xx delivered, 4xx deferred, 5xx bounced. */
export function kindOfCode(code: number): OutcomeKind {
  if (code >= 200 && code < 300) return "delivered";
  if (code >= 500) return "bounced";
  return "deferred";
}

/** Pulls the enhanced status code (RFC 3463) out of a reply line, if it has one. */
export function enhancedOf(response: string): string | null {
  const m = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(response.trim());
  return m?.[1] ?? null;
}
