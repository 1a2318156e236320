// The migration that makes SMTP usernames case-insensitive, run on a database that holds
// two usernames differing only in case: the oldest keeps its name, the later one is
// renamed, and its password still logs in under the new name.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { migrate as drizzleMigrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { connect } from "../src/db/client.ts";
import { checkSmtpLogin } from "../src/smtp/credentials.ts";
import { hashPassword } from "../src/smtp/password-hash.ts";

const MIGRATION = "0007_smtp_usernames_case_insensitive";

test("usernames that differ only in case: the oldest keeps its name, the later one is renamed and still logs in", async () => {
  const adminUrl = process.env.HIKYAKU_TEST_ADMIN_URL;
  if (!adminUrl) throw new Error("Run the tests with `npm test`, which starts the test database.");
  const name = `m_${Date.now().toString(36)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = connect(url.toString(), { max: 2 });
  // The migrations as they stood before this one.
  const before = mkdtempSync(path.join(os.tmpdir(), "hikyaku-migrations-"));
  try {
    cpSync("drizzle", before, { recursive: true });
    const journalFile = path.join(before, "meta/_journal.json");
    const journal = JSON.parse(readFileSync(journalFile, "utf8"));
    const at = journal.entries.findIndex((e: { tag: string }) => e.tag === MIGRATION);
    assert.ok(at > 0, `${MIGRATION} is in the journal`);
    journal.entries = journal.entries.slice(0, at);
    writeFileSync(journalFile, JSON.stringify(journal));
    await drizzleMigrate(db.orm, { migrationsFolder: before });

    const [account] = await db.sql<{ id: string }[]>`insert into accounts (id, name) values (gen_random_uuid(), 'school') returning id`;
    const hash = await hashPassword("second-password");
    await db.sql`
      insert into smtp_credentials (id, account_id, username, password_hash, created_at) values
        ('00000000-0000-7000-8000-000000000001', ${account!.id}, 'Gate', ${await hashPassword("first-password")}, '2026-01-01T00:00:00Z'),
        ('11111111-0000-7000-8000-000000000002', ${account!.id}, 'gate', ${hash}, '2026-02-01T00:00:00Z'),
        ('22222222-0000-7000-8000-000000000003', ${account!.id}, 'other', ${hash}, '2026-03-01T00:00:00Z')`;

    await drizzleMigrate(db.orm, { migrationsFolder: "drizzle" });
    const rows = await db.sql<{ username: string }[]>`select username from smtp_credentials order by created_at`;
    assert.deepEqual(
      rows.map((r) => r.username),
      ["Gate", "gate~11111111", "other"],
    );
    assert.ok((await checkSmtpLogin(db, "GATE", "first-password")).login, "the oldest keeps its name, in any case");
    assert.ok((await checkSmtpLogin(db, "gate~11111111", "second-password")).login, "the renamed one logs in under its new name");
    await assert.rejects(
      db.sql`insert into smtp_credentials (id, account_id, username, password_hash) values (gen_random_uuid(), ${account!.id}, 'OTHER', 'x')`,
    );
  } finally {
    rmSync(before, { recursive: true, force: true });
    await db.close();
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
});
