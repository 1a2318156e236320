// A new key set for a domain (RSA-2048 and Ed25519 under one dated selector base),
// encrypted and ready to insert as pending dkim_keys rows.
import type { Config } from "../config.ts";
import { uuidv7 } from "../util/ids.ts";
import { encryptPrivateKey, encryptionKey } from "./key-encryption.ts";
import { ALGORITHMS, generateDkimKey, newSelector } from "./key-generation.ts";

export interface KeyInsert {
  id: string;
  domain_id: string;
  selector: string;
  algorithm: string;
  private_key: Buffer;
  public_key: string;
  state: "pending";
  created_at: Date;
}

export async function newKeys(config: Config, domainId: string, at: Date): Promise<KeyInsert[]> {
  const base = newSelector(at);
  const secret = encryptionKey(config);
  const generated = await Promise.all(ALGORITHMS.map((a) => generateDkimKey(a, base)));
  return generated.map((g) => {
    const id = uuidv7();
    return {
      id,
      domain_id: domainId,
      selector: g.selector,
      algorithm: g.algorithm,
      private_key: encryptPrivateKey(g.privatePem, id, secret),
      public_key: g.publicKey,
      state: "pending",
      created_at: at,
    };
  });
}
