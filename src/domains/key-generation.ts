// New DKIM key pairs and their selectors. RSA-2048 is what every receiver verifies;
// Ed25519 (RFC 8463) rides along as a second signature for receivers that check it.
import { generateKeyPair, randomBytes } from "node:crypto";
import { promisify } from "node:util";

export type DkimAlgorithm = "rsa-sha256" | "ed25519-sha256";
export const ALGORITHMS: readonly DkimAlgorithm[] = ["rsa-sha256", "ed25519-sha256"];

export interface GeneratedKey {
  algorithm: DkimAlgorithm;
  selector: string;
  /** PKCS#8 PEM: encrypt before storing. */
  privatePem: string;
  /** The `p=` value of the DKIM TXT record. */
  publicKey: string;
}

const generate = promisify(generateKeyPair);

/** `hk` + year and month + 4 random hex digits, e.g. hk202611a3f9: dated, and unique per rotation. */
export function newSelector(at: Date): string {
  const month = `${at.getUTCFullYear()}${String(at.getUTCMonth() + 1).padStart(2, "0")}`;
  return `hk${month}${randomBytes(2).toString("hex")}`;
}

/** The selector of a key of `algorithm` in the set named `base`. */
export function selectorFor(base: string, algorithm: DkimAlgorithm): string {
  return algorithm === "rsa-sha256" ? base : `${base}-ed`;
}

export async function generateDkimKey(algorithm: DkimAlgorithm, base: string): Promise<GeneratedKey> {
  const selector = selectorFor(base, algorithm);
  if (algorithm === "rsa-sha256") {
    const { privateKey, publicKey } = await generate("rsa", { modulusLength: 2048 });
    return {
      algorithm,
      selector,
      privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      publicKey: publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    };
  }
  const { privateKey, publicKey } = await generate("ed25519");
  // RFC 8463 §4: p= is the bare 32-byte public key, not its SubjectPublicKeyInfo.
  const spki = publicKey.export({ type: "spki", format: "der" });
  return {
    algorithm,
    selector,
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKey: spki.subarray(spki.length - 32).toString("base64"),
  };
}
