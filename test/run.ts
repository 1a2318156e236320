// `npm test`: starts one PostgreSQL for the whole run (embedded, unless DATABASE_URL
// names a server), migrates a template database once, then runs the test files in
// parallel; each file clones the template into a database of its own.
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { connect } from "../src/db/client.ts";
import { startEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { freePort } from "./helpers/sink.ts";

const TEMPLATE = "hikyaku_test_template";

function testFiles(args: string[]): string[] {
  if (args.length > 0) return args;
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".test.ts")) out.push(p);
    }
  };
  walk("test");
  walk("sdk");
  return out.filter((f) => !f.includes("node_modules")).sort();
}

async function main(): Promise<number> {
  let adminUrl = process.env.DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (!adminUrl) {
    dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-test-"));
    chmodSync(dir, 0o755); // the embedded server runs as the postgres user
    const embedded = await startEmbedded(dir, await freePort(), "postgres");
    adminUrl = embedded.url;
    stop = embedded.stop;
  }
  try {
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${TEMPLATE}`);
    await admin.unsafe(`create database ${TEMPLATE}`);
    await admin.end();
    const templateUrl = withDatabase(adminUrl, TEMPLATE);
    const db = connect(templateUrl, { max: 2 });
    await migrate(db, templateUrl);
    await db.close();
    const files = testFiles(process.argv.slice(2));
    const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=3", "--test-timeout=180000", ...files], {
      stdio: "inherit",
      env: { ...process.env, HIKYAKU_TEST_ADMIN_URL: adminUrl, HIKYAKU_TEST_TEMPLATE: TEMPLATE },
    });
    return await new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 1)));
  } finally {
    await stop?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
