// Standard Webhooks signing (standardwebhooks.com): a secret is `whsec_` + base64 of
// random bytes, and each signature is `v1,` + base64(HMAC-SHA256(key, "id.timestamp.body")).
// During a rotation both secrets sign, space-separated, so receivers may switch at leisure.
import { createHmac, randomBytes } from "node:crypto";

export function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

export function signatureHeader(secrets: string[], id: string, timestamp: number, body: string): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
      return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
    })
    .join(" ");
}
