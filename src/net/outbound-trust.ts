// The CA certificates outbound TLS trusts where it checks certificates (MTA-STS MX hosts
// and policy fetches): the system's roots, plus those of HIKYAKU_OUTBOUND_CA_FILE.
import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import tls from "node:tls";

/** The extra CA certificates of `file` (PEM), checked once at start so a bad file stops the worker with a reason. */
export function loadExtraCas(file: string | undefined): string[] | undefined {
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`HIKYAKU_OUTBOUND_CA_FILE: cannot read ${file}; point it at a PEM file of CA certificates`, { cause: err });
  }
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new Error(`HIKYAKU_OUTBOUND_CA_FILE: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new Error(`HIKYAKU_OUTBOUND_CA_FILE: ${file} holds a certificate that does not parse`, { cause: err });
    }
  }
  return pems;
}

/** The full list to hand node's `ca` option (which replaces the roots rather than adding to them), or undefined for the roots alone. */
export function trustedCas(extra: string[] | undefined): string[] | undefined {
  return extra?.length ? [...tls.rootCertificates, ...extra] : undefined;
}
