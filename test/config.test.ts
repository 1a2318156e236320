// The one configuration schema: SPEC §3's names and defaults, parsed values, and an
// invalid value stopping start-up with a sentence that names the variable.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { describe, test } from "node:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { ConfigError, loadConfig, usableCores } from "../src/config.ts";

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    return err.message;
  }
  assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  test("defaults are SPEC §3's", () => {
    const c = loadConfig({});
    assert.equal(c.DATABASE_URL, undefined);
    assert.equal(c.HIKYAKU_DATA_DIR, "./.hikyaku");
    assert.equal(c.dataDir, path.resolve(".hikyaku"));
    assert.equal(c.HIKYAKU_HOST, "127.0.0.1");
    assert.equal(c.HIKYAKU_HTTP_PORT, 3000);
    assert.equal(c.HIKYAKU_SMTP_RELAY_PORT, 2525);
    assert.equal(c.HIKYAKU_SMTP_SUBMISSION_PORT, 2587);
    assert.equal(c.HIKYAKU_SMTPS_PORT, 2465);
    assert.equal(c.HIKYAKU_ADMIN_TOKEN, undefined);
    assert.equal(c.HIKYAKU_ROUTES, undefined);
    assert.equal(c.HIKYAKU_DNS_SERVERS, undefined);
    assert.deepEqual([...c.HIKYAKU_ROLES].sort(), ["api", "smtp", "worker"]);
    assert.equal(c.HIKYAKU_LOG_RETENTION_DAYS, 31);
    assert.equal(c.HIKYAKU_ALLOW_PRIVATE_DESTINATIONS, false);
    assert.equal(c.HIKYAKU_MAX_MESSAGE_BYTES, 10 * 1024 * 1024);
    assert.equal(c.HIKYAKU_LIFETIME, 1800);
    assert.equal(c.HIKYAKU_RETRY_INTERVAL, 60);
    assert.ok(c.HIKYAKU_HOSTNAME.length > 0);
  });

  test("values are parsed into their types", () => {
    const c = loadConfig({
      DATABASE_URL: "postgres://u:p@127.0.0.1:5432/hikyaku",
      HIKYAKU_HTTP_PORT: "8080",
      HIKYAKU_ROUTES: "Example.COM=mx.example.net:2525, *=smarthost.test ,v6.test=[::1]:26",
      HIKYAKU_DNS_SERVERS: "127.0.0.53,127.0.0.2:5353,[::1]:53",
      HIKYAKU_ROLES: "api, worker",
      HIKYAKU_ALLOW_PRIVATE_DESTINATIONS: "true",
      HIKYAKU_ADMIN_TOKEN: "0123456789abcdef",
    });
    assert.equal(c.HIKYAKU_HTTP_PORT, 8080);
    assert.deepEqual(
      [...(c.HIKYAKU_ROUTES ?? new Map())],
      [
        ["example.com", { host: "mx.example.net", port: 2525 }],
        ["*", { host: "smarthost.test", port: 25 }],
        ["v6.test", { host: "::1", port: 26 }],
      ],
    );
    assert.deepEqual(c.HIKYAKU_DNS_SERVERS, ["127.0.0.53:53", "127.0.0.2:5353", "[::1]:53"]);
    assert.deepEqual([...c.HIKYAKU_ROLES].sort(), ["api", "worker"]);
    assert.equal(c.HIKYAKU_ALLOW_PRIVATE_DESTINATIONS, true);
  });

  test("an empty value means unset", () => {
    const c = loadConfig({ HIKYAKU_HTTP_PORT: "", HIKYAKU_ADMIN_TOKEN: "", HIKYAKU_ROLES: "" });
    assert.equal(c.HIKYAKU_HTTP_PORT, 3000);
    assert.equal(c.HIKYAKU_ADMIN_TOKEN, undefined);
    assert.equal(c.HIKYAKU_ROLES.size, 3);
  });

  test("variables outside the schema are ignored", () => {
    assert.doesNotThrow(() => loadConfig({ HOME: "/root", HIKYAKU_UNKNOWN_THING: "x" }));
  });

  const invalid: [string, string][] = [
    ["HIKYAKU_HTTP_PORT", "abc"],
    ["HIKYAKU_HTTP_PORT", "70000"],
    ["HIKYAKU_HTTP_PORT", "-1"],
    ["HIKYAKU_SMTP_RELAY_PORT", "25.5"],
    ["HIKYAKU_ROUTES", "garbage"],
    ["HIKYAKU_ROUTES", "example.com="],
    ["HIKYAKU_ROUTES", "=mx.example.net:25"],
    ["HIKYAKU_ROUTES", "example.com=mx.example.net:99999"],
    ["HIKYAKU_DNS_SERVERS", "127.0.0.1:0"],
    ["HIKYAKU_DNS_SERVERS", "dns server"],
    ["HIKYAKU_ROLES", "foo"],
    ["HIKYAKU_ROLES", "api,mail"],
    ["HIKYAKU_ROLES", ","],
    ["HIKYAKU_ALLOW_PRIVATE_DESTINATIONS", "maybe"],
    ["HIKYAKU_LOG_RETENTION_DAYS", "0"],
    ["HIKYAKU_LOG_LEVEL", "verbose"],
    ["HIKYAKU_MAX_MESSAGE_BYTES", "ten"],
    ["DATABASE_URL", "not a url"],
  ];
  for (const [name, value] of invalid) {
    test(`${name}=${JSON.stringify(value)} is refused with a sentence naming ${name}`, () => {
      const message = refusal({ [name]: value });
      assert.ok(message.includes(name), message);
      assert.doesNotMatch(message, /\[object Object\]|undefined/, message);
    });
  }

  test("every bad variable is named at once", () => {
    const message = refusal({ HIKYAKU_HTTP_PORT: "abc", HIKYAKU_ROLES: "foo", HIKYAKU_ROUTES: "garbage" });
    for (const name of ["HIKYAKU_HTTP_PORT", "HIKYAKU_ROLES", "HIKYAKU_ROUTES"]) assert.ok(message.includes(name), message);
  });

  test("secrets are never echoed in the sentence", () => {
    const token = refusal({ HIKYAKU_ADMIN_TOKEN: "hunter2-short" });
    assert.ok(token.includes("HIKYAKU_ADMIN_TOKEN"), token);
    assert.ok(!token.includes("hunter2"), token);
    const url = refusal({ DATABASE_URL: "postgres//admin:hunter2@db" });
    assert.ok(url.includes("DATABASE_URL"), url);
    assert.ok(!url.includes("hunter2"), url);
  });
});

describe("HIKYAKU_WORKER_PROCESSES=auto", () => {
  test("unset or auto: one child where two or more cores are usable, none on one; a number is kept; anything else is refused", () => {
    const expected = usableCores() >= 2 ? 1 : 0;
    assert.equal(loadConfig({}).HIKYAKU_WORKER_PROCESSES, expected);
    assert.equal(loadConfig({ HIKYAKU_WORKER_PROCESSES: "auto" }).HIKYAKU_WORKER_PROCESSES, expected);
    assert.equal(loadConfig({ HIKYAKU_WORKER_PROCESSES: "0" }).HIKYAKU_WORKER_PROCESSES, 0);
    assert.equal(loadConfig({ HIKYAKU_WORKER_PROCESSES: "2" }).HIKYAKU_WORKER_PROCESSES, 2);
    for (const bad of ["9", "-1", "1.5", "many"]) {
      assert.throws(
        () => loadConfig({ HIKYAKU_WORKER_PROCESSES: bad }),
        (e: Error) => e instanceof ConfigError && e.message.includes("HIKYAKU_WORKER_PROCESSES"),
      );
    }
  });

  test("the usable cores are the affinity's, capped by a cgroup CPU quota (v2 and v1)", () => {
    const cores = os.availableParallelism();
    const dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-cgroup-"));
    try {
      assert.equal(usableCores(dir), cores, "no cgroup files: the affinity");
      writeFileSync(path.join(dir, "cpu.max"), "max 100000\n");
      assert.equal(usableCores(dir), cores, "v2 without a quota");
      writeFileSync(path.join(dir, "cpu.max"), "50000 100000\n");
      assert.equal(usableCores(dir), Math.min(cores, 0.5), "v2: half a CPU");
      rmSync(path.join(dir, "cpu.max"));
      mkdirSync(path.join(dir, "cpu"));
      writeFileSync(path.join(dir, "cpu", "cpu.cfs_period_us"), "100000\n");
      writeFileSync(path.join(dir, "cpu", "cpu.cfs_quota_us"), "-1\n");
      assert.equal(usableCores(dir), cores, "v1 without a quota");
      writeFileSync(path.join(dir, "cpu", "cpu.cfs_quota_us"), "100000\n");
      assert.equal(usableCores(dir), Math.min(cores, 1), "v1: one CPU");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("hikyaku start with an invalid value", { concurrency: true }, () => {
  const bin = path.resolve("src/bin/hikyaku.mjs");
  const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HIKYAKU_") && k !== "DATABASE_URL"));

  async function run(env: Record<string, string>) {
    const child = spawn(process.execPath, [bin, "start"], {
      env: { ...cleanEnv, ...env, HIKYAKU_DATA_DIR: "/nonexistent/never-created" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    clearTimeout(timer);
    return { code, out, err };
  }

  for (const [name, value] of [
    ["HIKYAKU_HTTP_PORT", "abc"],
    ["HIKYAKU_ROUTES", "garbage"],
    ["HIKYAKU_ROLES", "foo"],
  ] as const) {
    test(`${name}=${value}: exits non-zero, printing the sentence, before touching any database`, async () => {
      const { code, out, err } = await run({ [name]: value });
      assert.ok(code !== 0 && code !== null, `exit code ${code}`);
      assert.match(err, new RegExp(`${name}: .*\\(got "${value}"\\)`), err);
      assert.doesNotMatch(err, /at .*\.ts:\d+/, "a sentence, not a stack trace");
      assert.equal(out, "", "nothing started");
    });
  }
});
