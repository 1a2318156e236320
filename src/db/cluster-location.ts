// Where the embedded cluster lives. Normally in the data dir; as root, when the postgres
// account cannot enter the data dir (a clone under /root, a mode-700 folder), in a folder
// of its own under the system dir, named after the data dir's real path. Once a cluster
// exists, its place never changes, whatever happens to the permissions later.
import { createHash } from "node:crypto";
import { existsSync, realpathSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { canEnter, type PgAccount } from "./pg-account.ts";

export async function clusterLocation(dataDir: string, account: PgAccount | undefined, systemDir: string): Promise<string> {
  const inDataDir = path.join(dataDir, "pg");
  if (!account) return inDataDir;
  if (existsSync(path.join(inDataDir, "PG_VERSION"))) {
    if (canEnter(account, dataDir)) return inDataDir;
    throw new Error(
      `The postgres account can no longer enter ${dataDir}, where the embedded cluster is; make it and the folders above it enterable by others again (chmod o+x), or set DATABASE_URL.`,
    );
  }
  const outside = path.join(systemDir, createHash("sha256").update(realpathSync(dataDir)).digest("hex").slice(0, 16), "pg");
  if (existsSync(path.join(outside, "PG_VERSION"))) return outside;
  if (canEnter(account, dataDir)) return inDataDir;
  try {
    await fs.mkdir(path.dirname(outside), { recursive: true, mode: 0o755 });
    await fs.chmod(systemDir, 0o755);
    // For an operator looking at the system dir: which data dir this cluster belongs to.
    await fs.writeFile(path.join(path.dirname(outside), "data-dir"), `${realpathSync(dataDir)}\n`);
  } catch (err) {
    throw new Error(
      `The postgres account cannot enter ${dataDir}, and ${systemDir} (where root keeps such clusters) could not be made; make ${systemDir} writable, set HIKYAKU_EMBEDDED_PG_SYSTEM_DIR, or set DATABASE_URL.`,
      { cause: err },
    );
  }
  if (!canEnter(account, path.dirname(outside))) {
    throw new Error(
      `The postgres account cannot enter ${path.dirname(outside)}; make ${systemDir} and the folders above it enterable by others (chmod o+x), or set HIKYAKU_EMBEDDED_PG_SYSTEM_DIR to such a folder.`,
    );
  }
  return outside;
}
