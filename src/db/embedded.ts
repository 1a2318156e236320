// The embedded PostgreSQL that runs when DATABASE_URL is unset, so that
// `npm install && npm start` works on a fresh machine, as root too. Its cluster is
// reused on the next start; a server left running by a killed start is stopped first;
// a server that dies under the running service is started again.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import postgres from "postgres";
import { log } from "../logger.ts";
import { clusterLocation } from "./cluster-location.ts";
import { type PgAccount, serverAccount } from "./pg-account.ts";
import { type PgBinaries, serverBinaries } from "./pg-binaries.ts";
import { alive, initCluster, type Postmaster, parentOf, runningPostmaster, startPostmaster, stopPostmaster } from "./postmaster.ts";

export interface EmbeddedDb {
  url: string;
  /** Where the cluster lives: as root it may be outside the data dir, so the start banner names it. */
  clusterDir: string;
  /** Undefined while the server runs; otherwise a sentence on what is wrong (for /readyz). */
  problem(): string | undefined;
  /** Settles when the server died and could not be started again: time to exit for a supervisor. */
  lost: Promise<Error>;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /**
   * For one-shot commands (`hikyaku accounts create`, `migrate`, …) run beside `hikyaku
   * start`: they use its server and leave it running. A second `start` does not share: it
   * would lose its database when the first stops.
   */
  reuseRunning?: boolean;
  /** As root: where clusters the postgres account cannot reach in their data dir, and a copy of the binaries, go. */
  systemDir?: string;
}

/** Restart attempts after the server died, with their waits (about a minute in all). */
const RESTART_WAITS_MS = [500, 1000, 2000, 4000, 8000, 8000, 8000, 8000, 8000, 8000];

export async function startEmbedded(dataDir: string, port: number, database = "hikyaku", opts: EmbeddedOptions = {}): Promise<EmbeddedDb> {
  await fs.mkdir(dataDir, { recursive: true }).catch((err) => {
    throw new Error(`Cannot create the data directory ${dataDir} (${err.code ?? err.message}); set HIKYAKU_DATA_DIR to a folder you can write.`, {
      cause: err,
    });
  });
  const account = serverAccount();
  const systemDir = path.resolve(opts.systemDir ?? "/var/lib/hikyaku");
  const clusterDir = await clusterLocation(dataDir, account, systemDir);
  const fresh = !existsSync(path.join(clusterDir, "PG_VERSION"));
  const password = await clusterPassword(dataDir, fresh);
  const base = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const leftover = runningPostmaster(clusterDir);
  if (leftover !== undefined) {
    if (opts.reuseRunning && (await answers(base))) {
      await ensureDatabase(base, database);
      return { url: `${base}/${database}`, clusterDir, problem: () => undefined, lost: new Promise(() => {}), stop: async () => {} };
    }
    await stopLeftover(dataDir, clusterDir, leftover);
  }
  const bin = await serverBinaries(account, systemDir);
  if (fresh) {
    log.info("initialising embedded postgres", { dir: clusterDir });
    await initCluster(bin, account, clusterDir, password);
  }
  const server = await supervise(bin, account, clusterDir, port, dataDir);
  try {
    await ensureDatabase(base, database);
  } catch (err) {
    await server.stop();
    throw err;
  }
  log.info("embedded postgres ready", { port, dir: clusterDir });
  return { url: `${base}/${database}`, clusterDir, ...server };
}

/** The superuser password, generated with a new cluster and kept private in the data dir. */
async function clusterPassword(dataDir: string, fresh: boolean): Promise<string> {
  const file = path.join(dataDir, "pg-password");
  if (fresh || !existsSync(file)) await fs.writeFile(file, randomBytes(18).toString("base64url"), { mode: 0o600 });
  return (await fs.readFile(file, "utf8")).trim();
}

/**
 * A server is running on the cluster. If the process that started it is alive and still
 * its parent, it is in use: refuse. Otherwise its starter was killed (kill -9 leaves the
 * postmaster running): stop it, so this process runs, and watches, its own.
 */
async function stopLeftover(dataDir: string, clusterDir: string, pid: number): Promise<void> {
  const owner = ownerOf(dataDir);
  const parent = parentOf(pid);
  if (owner !== undefined && alive(owner) && (parent === undefined || parent === owner)) {
    throw new Error(
      `The embedded PostgreSQL in ${clusterDir} is in use by another Hikyaku process (pid ${owner}); stop that one first, or give this one its own HIKYAKU_DATA_DIR (or HIKYAKU_EMBEDDED_PG_PORT or DATABASE_URL).`,
    );
  }
  log.warn("stopping the embedded postgres left running by a process that died", { pid, dir: clusterDir });
  await stopPostmaster(pid);
  if (alive(pid))
    throw new Error(`The PostgreSQL (pid ${pid}) left running in ${clusterDir} by a process that died does not stop; stop it (kill ${pid}) and start again.`);
}

const ownerFile = (dataDir: string) => path.join(dataDir, "pg-owner.pid");

function ownerOf(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(ownerFile(dataDir), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the server and starts it again whenever it dies unasked, until stop(). */
async function supervise(bin: PgBinaries, account: PgAccount | undefined, clusterDir: string, port: number, dataDir: string) {
  // The child being started, so that stop() and exit reach it before it is ready too.
  let spawning: ChildProcess | undefined;
  const start = async () => {
    try {
      return await startPostmaster(bin, account, clusterDir, port, (child) => (spawning = child));
    } finally {
      spawning = undefined;
    }
  };
  let current: Postmaster | undefined = await start();
  await fs.writeFile(ownerFile(dataDir), `${process.pid}\n`);
  let problem: string | undefined;
  let stopping = false;
  let loseIt: (err: Error) => void = () => {};
  const lost = new Promise<Error>((resolve) => (loseIt = resolve));
  // A process.exit() elsewhere must not leave the server behind (a SIGKILL can; the next start stops it).
  const onExit = () => {
    current?.child.kill("SIGINT");
    spawning?.kill("SIGINT");
  };
  process.on("exit", onExit);

  const watch = (pm: Postmaster): Promise<void> =>
    pm.exited.then(async (how) => {
      if (stopping || current !== pm) return;
      current = undefined;
      problem = `The embedded PostgreSQL in ${clusterDir} exited (${how}); Hikyaku is starting it again.`;
      log.error("embedded postgres exited; restarting it", { how, dir: clusterDir });
      for (const [i, wait] of RESTART_WAITS_MS.entries()) {
        await sleep(wait);
        if (stopping) return;
        try {
          const next = await start();
          if (stopping) return void (await stopPostmaster(next.child.pid as number));
          current = next;
          problem = undefined;
          log.warn("embedded postgres restarted", { attempt: i + 1 });
          return watch(next);
        } catch (err) {
          problem = `The embedded PostgreSQL in ${clusterDir} exited (${how}) and has not started again yet (attempt ${i + 1}): ${(err as Error).message}`;
          log.error("embedded postgres did not restart", { attempt: i + 1, err: err as Error });
        }
      }
      loseIt(new Error(`The embedded PostgreSQL in ${clusterDir} exited and could not be started again; see the log above.`));
    });
  watch(current);

  return {
    problem: () => problem,
    lost,
    async stop() {
      stopping = true;
      process.off("exit", onExit);
      spawning?.kill("SIGINT");
      const pm = current;
      current = undefined;
      if (pm?.child.pid !== undefined) {
        await stopPostmaster(pm.child.pid);
        await pm.exited;
      }
      await fs.rm(ownerFile(dataDir), { force: true });
    },
  };
}

async function answers(base: string): Promise<boolean> {
  const probe = postgres(`${base}/postgres`, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await probe`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await probe.end({ timeout: 1 });
  }
}

async function ensureDatabase(base: string, database: string): Promise<void> {
  const admin = postgres(`${base}/postgres`, { max: 1, onnotice: () => {} });
  try {
    const rows = await admin`select 1 from pg_database where datname = ${database}`;
    if (rows.length === 0) await admin.unsafe(`create database "${database}"`);
  } finally {
    await admin.end();
  }
}
