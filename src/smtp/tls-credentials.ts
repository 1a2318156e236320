// The certificate the SMTP intake presents: the operator's PEM files, or a self-signed
// pair generated once into the data directory so a fresh install offers TLS at once.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config.ts";
import { log } from "../logger.ts";

export interface TlsPair {
  key: string;
  cert: string;
}

/** Key and certificate in one file, so one rename publishes both at once. */
const PAIR_FILE = "smtp-tls.pem";

export async function loadTlsPair(config: Config): Promise<TlsPair> {
  const { HIKYAKU_TLS_CERT: certPath, HIKYAKU_TLS_KEY: keyPath } = config;
  if (certPath || keyPath) {
    if (!certPath || !keyPath) throw new Error("Set both HIKYAKU_TLS_CERT and HIKYAKU_TLS_KEY (PEM files), or neither to use a generated self-signed pair.");
    try {
      return { cert: await readFile(certPath, "utf8"), key: await readFile(keyPath, "utf8") };
    } catch (err) {
      throw new Error(`Could not read the TLS files ${certPath} and ${keyPath}; check HIKYAKU_TLS_CERT and HIKYAKU_TLS_KEY.`, { cause: err });
    }
  }
  return generatedPair(config);
}

async function generatedPair(config: Config): Promise<TlsPair> {
  const file = path.join(config.dataDir, PAIR_FILE);
  const existing = splitPem(await readFile(file, "utf8").catch(() => ""));
  if (existing) return existing;
  // Loaded only to generate: it is the costliest module to load (about 0.3 s of CPU, more
  // than graphile-worker), and every process would pay that at each start otherwise.
  const { generate } = await import("selfsigned");
  const pair = await generate([{ name: "commonName", value: config.HIKYAKU_HOSTNAME }], {
    keySize: 2048,
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 5 * 365 * 86_400_000),
    extensions: [{ name: "subjectAltName", altNames: [{ type: 2, value: config.HIKYAKU_HOSTNAME }] }],
  });
  await mkdir(config.dataDir, { recursive: true });
  // Two processes starting at once may both generate; each rename publishes a whole pair.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, `${pair.private.trim()}\n${pair.cert.trim()}\n`, { mode: 0o600 });
  await rename(tmp, file);
  log.info("generated a self-signed TLS certificate for SMTP intake", { file, hostname: config.HIKYAKU_HOSTNAME });
  return { key: pair.private, cert: pair.cert };
}

function splitPem(text: string): TlsPair | undefined {
  const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/.exec(text)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  return key && cert ? { key, cert } : undefined;
}
