// The README's first command on a fresh clone in a private folder (mode 700, like /root):
// `npm start` must reach /readyz, as root too, where the embedded PostgreSQL runs as the
// postgres account and can reach neither the clone nor the binaries in its node_modules.
// The clone is of this checkout's HEAD. Its node_modules are hard links to this
// checkout's (an `npm ci --offline` takes 100 s on the shared 2-core machine, more than
// the file's time budget, and is not what is tested here); they sit inside the private
// folder all the same.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { alive, cleanEnv, postmasterPid, stopPostmastersUnder } from "./helpers/hikyaku-process.ts";
import { eventually } from "./helpers/service.ts";
import { freePort } from "./helpers/sink.ts";

const dirs: string[] = [];
let group: number | undefined;

after(async () => {
  if (group) {
    try {
      process.kill(-group, "SIGKILL");
    } catch {}
  }
  for (const d of dirs) await stopPostmastersUnder(d);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("a fresh clone in a mode-700 folder: npm start reaches /readyz, prints where the cluster is, and stops cleanly on SIGTERM", async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "hikyaku-home-"));
  dirs.push(home);
  chmodSync(home, 0o700);
  // Where root keeps clusters the postgres account cannot reach in their data dir (default /var/lib/hikyaku).
  const system = mkdtempSync(path.join(os.tmpdir(), "hikyaku-system-"));
  dirs.push(system);
  chmodSync(system, 0o755);
  const clone = path.join(home, "hikyaku");
  const head = execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8" }).trim();
  execFileSync("git", ["clone", "--quiet", "--no-checkout", process.cwd(), clone]);
  execFileSync("git", ["-C", clone, "checkout", "--quiet", head]);
  try {
    execFileSync("cp", ["-al", path.resolve("node_modules"), path.join(clone, "node_modules")]);
  } catch {
    execFileSync("cp", ["-a", path.resolve("node_modules"), path.join(clone, "node_modules")]); // another file system
  }
  assert.equal(statSync(home).mode & 0o777, 0o700);

  const httpPort = await freePort();
  const child = spawn("npm", ["start"], {
    cwd: clone,
    detached: true, // its own process group, signalled as a terminal would
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...cleanEnv(),
      HIKYAKU_EMBEDDED_PG_SYSTEM_DIR: system,
      HIKYAKU_EMBEDDED_PG_PORT: String(await freePort()),
      HIKYAKU_HTTP_PORT: String(httpPort),
      HIKYAKU_SMTP_RELAY_PORT: "0",
      HIKYAKU_SMTP_SUBMISSION_PORT: "0",
      HIKYAKU_SMTPS_PORT: "0",
      HIKYAKU_HOSTNAME: "hikyaku.test",
    },
  });
  group = child.pid;
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  // npm leaves on a signal at once; the service writes to the same pipes until it has exited.
  const pipesClosed = Promise.all([new Promise((r) => child.stdout.once("close", r)), new Promise((r) => child.stderr.once("close", r))]);

  const ready = await eventually(
    async () => {
      if (!/cluster in \S+\n/.test(out)) return undefined;
      const r = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(5000) });
      return r.status === 200 ? ((await r.json()) as { status: string }) : undefined;
    },
    `npm start to reach /readyz\n${out.slice(-3000)}`,
    120_000,
  ).catch((err) => {
    throw new Error(`${err.message}\noutput: ${out.slice(-3000)}`);
  });
  assert.equal(ready.status, "ok");
  assert.doesNotMatch(out, /EACCES|Permission denied|Unhandled 'error' event|^\s+at /m);
  assert.match(out, /shown only now/, "a first API key");

  const clusterDir = (/cluster in (\S+)\n/.exec(out) as RegExpExecArray)[1] as string;
  const pid = postmasterPid(clusterDir);
  assert.ok(pid && alive(pid), "the cluster named in the banner is the running one");
  if (os.userInfo().uid === 0) {
    // The postgres account cannot enter the clone: cluster and binaries live in the system dir.
    assert.ok(clusterDir.startsWith(system), clusterDir);
    assert.equal(readFileSync(path.join(path.dirname(clusterDir), "data-dir"), "utf8").trim(), path.join(clone, ".hikyaku"));
    const exe = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] as string;
    assert.ok(exe.startsWith(system), `the server runs from the copy: ${exe}`);
  } else {
    assert.equal(clusterDir, path.join(clone, ".hikyaku", "pg"));
  }

  process.kill(-(child.pid as number), "SIGTERM");
  await Promise.race([pipesClosed, new Promise((_, reject) => setTimeout(() => reject(new Error(`no exit within 60 s\n${out.slice(-2000)}`)), 60_000))]);
  group = undefined;
  assert.match(out, /"msg":"hikyaku stopped"/, out.slice(-2000));
  assert.equal(alive(pid), false, "postgres stopped with it");
  assert.equal(existsSync(path.join(clusterDir, "postmaster.pid")), false, "shut down, not killed");
});

test("where it truly cannot work: one sentence naming the path and the fix, exit code 1, no stack trace", async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), "hikyaku-home-"));
  dirs.push(home);
  // A file where the data dir should be: no user, root or not, can create it.
  const blocked = path.join(home, "file");
  mkdirSync(path.dirname(blocked), { recursive: true });
  execFileSync("touch", [blocked]);
  const { code, err } = await runStart({ HIKYAKU_DATA_DIR: path.join(blocked, "data") });
  assert.equal(code, 1, err);
  assert.match(err, new RegExp(`Cannot create the data directory ${path.join(blocked, "data")}.*set HIKYAKU_DATA_DIR`));
  assert.doesNotMatch(err, /^\s+at /m, "no stack trace");

  if (os.userInfo().uid !== 0) return;
  // As root: a data dir and a system dir the postgres account can enter neither of.
  const closed = path.join(home, "closed");
  mkdirSync(closed, { mode: 0o700 });
  const root = await runStart({ HIKYAKU_DATA_DIR: path.join(closed, "data"), HIKYAKU_EMBEDDED_PG_SYSTEM_DIR: path.join(closed, "system") });
  assert.equal(root.code, 1, root.err);
  assert.match(root.err, new RegExp(`postgres account cannot enter ${path.join(closed, "system")}.*(chmod o\\+x|HIKYAKU_EMBEDDED_PG_SYSTEM_DIR)`));
  assert.doesNotMatch(root.err, /^\s+at /m, "no stack trace");
});

async function runStart(env: Record<string, string>): Promise<{ code: number | null; err: string }> {
  const r = spawn(process.execPath, ["src/bin/hikyaku.mjs", "start"], {
    env: { ...cleanEnv(), HIKYAKU_EMBEDDED_PG_PORT: String(await freePort()), ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  r.stderr.on("data", (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => r.on("exit", (c) => resolve(c)));
  return { code, err };
}
