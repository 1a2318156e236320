// The `hikyaku` command: start the service, migrate, and manage accounts and keys.
import { parseArgs } from "node:util";
import { createAccount, createKey, listAccounts, revokeKey } from "./accounts/accounts.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { connect } from "./db/client.ts";
import { startEmbedded } from "./db/embedded.ts";
import { isDatabaseDown, isStrandedWrite } from "./db/driver-faults.ts";
import { migrate } from "./db/migrate.ts";
import { log, setLogLevel } from "./logger.ts";
import { openDatabase, startService } from "./service.ts";
import { isWorkerChild, serveParent, startWorkerChildren, tellParentSignalsHandled } from "./worker/children.ts";
import { isUnreturnedLocalJobs } from "./worker/runner.ts";

const USAGE = `Usage: hikyaku <command>
  start                              run the service (roles from HIKYAKU_ROLES)
  migrate                            bring the database schema up to date
  accounts create --name NAME        create an account; prints its first API key once
  accounts list                      list accounts
  keys create --account ID [--name N] create another API key for an account
  keys revoke --id KEY_ID            revoke an API key`;

async function main(argv: string[]): Promise<number> {
  // A terminal or pipe that went away makes every log line fail (EPIPE). Carry on without
  // the log, as under nohup, rather than crash, or spin on the errors of logging them.
  process.stdout.on("error", () => {});
  process.stderr.on("error", () => {});
  const [cmd, sub, ...rest] = argv;
  const config = loadConfig();
  if (cmd === "start") return start(config);
  if (cmd === "migrate" || cmd === "accounts" || cmd === "keys") {
    setLogLevel(config.HIKYAKU_LOG_LEVEL === "info" ? "warn" : config.HIKYAKU_LOG_LEVEL);
    const { db, url, stopEmbedded } = await openForCommand(config);
    try {
      await migrate(db, url);
      const { values } = parseArgs({ args: rest, options: { name: { type: "string" }, account: { type: "string" }, id: { type: "string" } } });
      if (cmd === "migrate") console.log("database is up to date");
      else if (cmd === "accounts" && sub === "create" && values.name) {
        const { account, key } = await createAccount(db, values.name);
        console.log(JSON.stringify({ account_id: account.id, name: account.name, api_key: key.key, key_id: key.id }, null, 2));
      } else if (cmd === "accounts" && sub === "list") {
        for (const a of await listAccounts(db)) console.log(`${a.id}  ${a.name}`);
      } else if (cmd === "keys" && sub === "create" && values.account) {
        const key = await createKey(db, values.account, values.name);
        console.log(JSON.stringify({ api_key: key.key, key_id: key.id }, null, 2));
      } else if (cmd === "keys" && sub === "revoke" && values.id) {
        if (!(await revokeKey(db, values.id))) throw new Error(`no active key with id ${values.id}`);
        console.log(`revoked ${values.id}`);
      } else {
        console.error(USAGE);
        return 2;
      }
      return 0;
    } finally {
      await db.close();
      await stopEmbedded?.();
    }
  }
  console.error(USAGE);
  return cmd ? 2 : 0;
}

/** Like openDatabase, but beside a running `hikyaku start` it shares that embedded postgres. */
async function openForCommand(config: ReturnType<typeof loadConfig>): ReturnType<typeof openDatabase> {
  if (config.DATABASE_URL) return openDatabase(config);
  const embedded = await startEmbedded(config.dataDir, config.HIKYAKU_EMBEDDED_PG_PORT, "hikyaku", {
    reuseRunning: true,
    systemDir: config.HIKYAKU_EMBEDDED_PG_SYSTEM_DIR,
  });
  return { db: connect(embedded.url), url: embedded.url, embedded, stopEmbedded: embedded.stop };
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

async function start(config: ReturnType<typeof loadConfig>): Promise<number> {
  // The worker role in child processes, when asked and this process has other roles too.
  const roles = config.HIKYAKU_ROLES;
  const childCount = roles.has("worker") && roles.size > 1 ? config.HIKYAKU_WORKER_PROCESSES : 0;
  if (childCount > 2 && !config.DATABASE_URL) {
    throw new Error(
      `HIKYAKU_WORKER_PROCESSES=${childCount}: the embedded PostgreSQL (200 connections) has room for at most 2 worker processes beside this one; set DATABASE_URL for more.`,
    );
  }
  const own = childCount > 0 ? { ...config, HIKYAKU_ROLES: new Set([...roles].filter((r) => r !== "worker")) } : config;
  // In a worker child, a signal while the service starts is kept and stops it once it has,
  // so a child its parent stops at once still exits cleanly. Anywhere else a signal during
  // start-up ends the process at once, as it always did (a start that hangs stays stoppable).
  const early: string[] = [];
  const onEarly = (signal: string) => early.push(signal);
  const keepEarly = isWorkerChild();
  if (keepEarly) {
    for (const signal of SIGNALS) process.on(signal, onEarly);
    tellParentSignalsHandled();
  }
  const service = await startService(own);
  // Runs until a signal, or until the embedded PostgreSQL died for good: then exit non-zero,
  // so that a supervisor (systemd, a container runtime) starts the whole service again.
  const ended = new Promise<Error | undefined>((resolve) => {
    service.embedded?.lost.then((err) => {
      log.error("stopping: the embedded postgres is gone", { err });
      resolve(err);
    });
    // Driver faults when the database goes away (see db/driver-faults.ts) are survived;
    // anything else thrown out of reach is a bug: stop, non-zero.
    let failed = false;
    const fail = (what: string) => (err: unknown) => {
      if (failed) return; // once: a failure while logging it must not become a loop
      failed = true;
      const error = err instanceof Error ? err : new Error(String(err));
      log.error(`stopping: ${what}`, { err: error });
      resolve(error);
    };
    process.on("unhandledRejection", (reason) => {
      if (isDatabaseDown(reason)) return log.warn("a database connection ended outside any query", { err: reason as Error });
      if (isUnreturnedLocalJobs(reason)) {
        return log.warn("the stopped job runner could not hand its fetched jobs back; they are unlocked after its missed heartbeats", { err: reason as Error });
      }
      fail("unhandled rejection")(reason);
    });
    process.on("uncaughtException", (err) => {
      if (isStrandedWrite(err)) {
        log.warn("the database driver wedged a connection; replacing the pool", { err });
        return service.db.reset();
      }
      // A connection's error thrown from an event of its socket when PostgreSQL died (57P01,
      // "terminating connection due to unexpected postmaster exit"): it once stopped the
      // whole process, intake included, in a storm of restarts under SMTP traffic
      // (test/bench/db-crash-storm.ts). The pools are replaced, as for a wedged one;
      // everything else thrown out of reach still stops the process.
      if (isDatabaseDown(err)) {
        log.warn("a database connection failed outside any query; replacing the pool", { err });
        return service.db.reset();
      }
      fail("uncaught exception")(err);
    });
    const stop = (signal: string) => {
      log.info("shutting down", { signal });
      resolve(undefined);
    };
    // service.stop() stops the parts in order and the embedded postgres last; nothing else
    // in the process handles these signals (graphile-worker runs with noHandleSignals).
    // A second Ctrl-C ends a stop that hangs. A worker child keeps listening instead: its
    // parent (or a supervisor signalling the whole group, then the parent stopping it)
    // may signal it again, and the stop it has begun must finish.
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) return log.info("already shutting down", { signal });
      stopping = true;
      stop(signal);
      if (!keepEarly) for (const sig of SIGNALS) process.off(sig, onSignal);
    };
    for (const signal of SIGNALS) process.on(signal, onSignal);
    // Only now the early listeners go: with none at all for a moment, a signal would end
    // the process outright.
    if (keepEarly) for (const signal of SIGNALS) process.off(signal, onEarly);
    // A worker child of another `hikyaku start` stops with it, even when it was killed.
    serveParent(() => stop("the parent process is gone"));
    if (early[0]) stop(early[0]);
  });
  // The children stop first (the database outlives them), within the same time limit: the
  // parent waits for them up to 2 s less than its own limit, and each child's own limit
  // is a second less again, so a child that cannot finish ends by its own bound (and says
  // why) rather than by the parent's SIGKILL.
  const childWaitMs = Math.max(2000, config.HIKYAKU_SHUTDOWN_SECONDS * 1000 - 2000);
  const workers = childCount > 0 ? startWorkerChildren(childCount, service.databaseUrl, Math.max(1, childWaitMs / 1000 - 1)) : undefined;
  if (workers) service.alsoStop(() => workers.stop(childWaitMs));
  // The banner says the service is up, so it comes only now that the signals are handled:
  // until a process listens for one, a signal ends it outright, and a signal sent on
  // seeing "API on" (Ctrl-C at once, a test, a supervisor) once landed in between.
  if (service.firstKey) {
    process.stdout.write(
      `\nHikyaku created your first account. Its API key (shown only now):\n\n  ${service.firstKey}\n\n` +
        `Send a message:\n  curl -X POST ${service.httpUrl}/v1/messages -H "Authorization: Bearer ${service.firstKey}" \\\n` +
        `    -H "Content-Type: application/json" -d '{"from":"you@your-domain.example","to":"someone@example.com","subject":"Hello","text":"Hi"}'\n\n`,
    );
  }
  if (service.httpUrl) process.stdout.write(`API on ${service.httpUrl} (reference at ${service.httpUrl}/docs)\n`);
  if (service.smtp) {
    const { relayPort, submissionPort, smtpsPort } = service.smtp;
    process.stdout.write(`SMTP relay on port ${relayPort}, submission (STARTTLS) on ${submissionPort}, SMTPS on ${smtpsPort}\n`);
  }
  if (service.embedded) {
    process.stdout.write(`Embedded PostgreSQL on 127.0.0.1:${config.HIKYAKU_EMBEDDED_PG_PORT}, cluster in ${service.embedded.clusterDir}\n`);
  }
  if (workers) process.stdout.write(`Delivery in ${childCount} worker process${childCount > 1 ? "es" : ""} (pid ${workers.pids().join(", ")})\n`);
  const fatal = await ended;
  const clean = await service.stop();
  if (fatal) console.error(`hikyaku: ${fatal.message}`);
  return clean && !fatal ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof ConfigError) console.error(err.message);
    else console.error(`hikyaku: ${err instanceof Error ? err.message : String(err)}${err?.cause ? `\n  cause: ${err.cause.message ?? err.cause}` : ""}`);
    process.exit(1);
  },
);
