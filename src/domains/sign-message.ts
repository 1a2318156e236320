// The signing step of accept(): mail whose From domain (or a parent) has a usable key in
// the account gets DKIM-Signature fields on top; every other byte stays as it was, so a
// signature the customer made already still verifies.
import addressparser from "nodemailer/lib/addressparser";
import { normaliseDomain } from "../accept/addresses.ts";
import { fieldValue, type HeaderField, serialise } from "../accept/raw-message.ts";
import { now } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { dkimSignatures } from "./dkim-signature.ts";
import { signersFor } from "./signing-keys.ts";

export async function signMessage(deps: { db: Db; config: Config }, accountId: string, headers: HeaderField[], body: Buffer): Promise<Buffer> {
  const domain = fromDomain(headers);
  const signers = domain ? await signersFor(deps, accountId, domain) : [];
  return serialise({ headers: [...dkimSignatures(signers, headers, body, now()), ...headers], body });
}

/** The domain of the (first) From address, ASCII and lower case. */
export function fromDomain(headers: HeaderField[]): string | undefined {
  const from = headers.find((h) => h.lower === "from");
  if (!from) return undefined;
  const [first] = addressparser(fieldValue(from), { flatten: true });
  const address = first?.address ?? "";
  const at = address.lastIndexOf("@");
  return at > 0 ? normaliseDomain(address.slice(at + 1)) : undefined;
}
