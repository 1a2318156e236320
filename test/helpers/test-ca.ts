// A certificate authority of the test's own, and server certificates it signs for given
// host names: what an MTA-STS MX host or policy server presents. The CA's PEM goes to a
// file for HIKYAKU_OUTBOUND_CA_FILE.
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { generate } from "selfsigned";

export interface TestCa {
  cert: string;
  key: string;
  /** A PEM file holding the CA certificate. */
  file: string;
  /** A certificate for `names` (DNS subjectAltNames), signed by this CA. */
  issue(names: string[]): Promise<{ key: string; cert: string }>;
}

const days = (n: number) => new Date(Date.now() + n * 86_400_000);

export async function startTestCa(): Promise<TestCa> {
  const ca = await generate([{ name: "commonName", value: "Hikyaku Test CA" }], {
    keyType: "rsa",
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: days(7),
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), "hikyaku-ca-")), "ca.pem");
  writeFileSync(file, ca.cert);
  return {
    cert: ca.cert,
    key: ca.private,
    file,
    async issue(names) {
      const leaf = await generate([{ name: "commonName", value: names[0] ?? "host.test" }], {
        keyType: "rsa",
        keySize: 2048,
        algorithm: "sha256",
        notAfterDate: days(7),
        ca: { key: ca.private, cert: ca.cert },
        extensions: [
          { name: "basicConstraints", cA: false },
          { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
          { name: "extKeyUsage", serverAuth: true },
          { name: "subjectAltName", altNames: names.map((value) => ({ type: 2, value })) },
        ],
      });
      return { key: leaf.private, cert: leaf.cert };
    },
  };
}

/** A certificate for `names` that no one trusts (self-signed). */
export async function untrustedCert(names: string[]): Promise<{ key: string; cert: string }> {
  const p = await generate([{ name: "commonName", value: names[0] ?? "host.test" }], {
    keyType: "rsa",
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: days(7),
    extensions: [{ name: "subjectAltName", altNames: names.map((value) => ({ type: 2, value })) }],
  });
  return { key: p.private, cert: p.cert };
}
