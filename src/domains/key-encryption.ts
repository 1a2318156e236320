// DKIM private keys at rest: AES-256-GCM under a key derived from HIKYAKU_SECRET_KEY (or,
// when unset, from a random secret generated once into the data directory, mode 0600).
// Each ciphertext is bound to its key row's id, so rows cannot be swapped.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, unlinkSync, linkSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config.ts";

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const SECRET_FILE = "dkim-secret.key";

const derived = new Map<string, Buffer>();

/** The AES-256 key for this configuration; the secret file is created on first use. */
export function encryptionKey(config: Config): Buffer {
  const secret = config.HIKYAKU_SECRET_KEY ?? readOrCreateSecretFile(config.dataDir);
  let key = derived.get(secret);
  if (!key) {
    key = Buffer.from(hkdfSync("sha256", Buffer.from(secret, "utf8"), "hikyaku", "dkim-private-key", 32));
    derived.set(secret, key);
  }
  return key;
}

function readOrCreateSecretFile(dataDir: string): string {
  const file = path.join(dataDir, SECRET_FILE);
  try {
    return readFileSync(file, "utf8").trim();
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOENT") throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  // Written under a temporary name, then linked into place: a second process starting at
  // the same moment either wins the link or reads the complete winner's file.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as { code?: string }).code !== "EEXIST") throw err;
  } finally {
    unlinkSync(tmp);
  }
  return readFileSync(file, "utf8").trim();
}

/** version(1) | iv(12) | tag(16) | ciphertext */
export function encryptPrivateKey(pem: string, keyId: string, key: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(`dkim:${keyId}`));
  const body = Buffer.concat([cipher.update(pem, "utf8"), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

/** Throws when the secret is not the one that encrypted this key, or the bytes were changed. */
export function decryptPrivateKey(blob: Buffer, keyId: string, key: Buffer): string {
  if (blob[0] !== VERSION) throw new Error(`DKIM key ${keyId}: unknown encryption version ${blob[0]}`);
  const iv = blob.subarray(1, 1 + IV_BYTES);
  const tag = blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(Buffer.from(`dkim:${keyId}`));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
}
