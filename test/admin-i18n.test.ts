// The console's words and times: every sentence exists in both languages, the browser's
// preference picks the language, and date-time fields are read in the account's zone.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { chooseLang, errorText, eventMeaning, manualWords, serviceCodeMeaning, words } from "../src/admin/i18n.ts";
import { localToRfc3339, rfc3339ToLocal } from "../src/admin/time.ts";
import { serviceCodes } from "../src/delivery/service-codes.ts";

test("every word and every service code has a Japanese and an English text", () => {
  const same = new Set(["smtp", "tls", "mx", "none"]);
  for (const [k, v] of Object.entries(words)) {
    assert.ok(v.ja && v.en, k);
    if (!same.has(k)) assert.notEqual(v.ja, v.en, `${k} is not translated`);
  }
  assert.deepEqual(Object.keys(serviceCodeMeaning).sort(), Object.keys(serviceCodes).sort());
  for (const [k, v] of Object.entries(serviceCodeMeaning)) assert.ok(/[ぁ-んァ-ン一-龯]/.test(v.ja) && /[a-z]/.test(v.en), k);
});

test("the manual: every sentence and every event's meaning in Japanese and in English", () => {
  for (const [k, v] of Object.entries({ ...manualWords, ...eventMeaning })) {
    assert.match(v.ja, /[ぁ-んァ-ン一-龯]/, `${k} has no Japanese`);
    assert.match(v.en, /[a-z]{3}/, `${k} has no English`);
    assert.notEqual(v.ja, v.en, k);
  }
  assert.deepEqual(Object.keys(eventMeaning), [
    ...["delivered", "deferred", "bounced", "expired", "cancelled", "suppressed"],
    ...["reception.accepted", "reception.refused"],
  ]);
});

test("errors: a sentence in each language, and an unknown key falls back to the internal-error sentence, never to nothing", () => {
  for (const key of ["signin:wrong", "signin:locked", "csrf", "not_found", "validation_error:source_ip", "conflict:domain"]) {
    assert.match(errorText("ja", key), /[ぁ-んァ-ン一-龯]/, key);
    assert.match(errorText("en", key), /^[A-Z].*\.$/, key);
  }
  assert.equal(errorText("en", "no-such-key"), errorText("en", "internal"));
});

test("language: the cookie wins, then the first of ja/en the browser prefers, then English", () => {
  assert.equal(chooseLang(undefined, "ja-JP,ja;q=0.9,en;q=0.8"), "ja");
  assert.equal(chooseLang(undefined, "en-US,en;q=0.9,ja;q=0.8"), "en");
  assert.equal(chooseLang(undefined, "fr-FR,ja;q=0.5,en;q=0.4"), "ja");
  assert.equal(chooseLang(undefined, "en;q=0.2,ja;q=0.7"), "ja");
  assert.equal(chooseLang(undefined, "ja;q=0,en"), "en");
  assert.equal(chooseLang(undefined, "de, fr"), "en");
  assert.equal(chooseLang(undefined, undefined), "en");
  assert.equal(chooseLang("en", "ja"), "en");
  assert.equal(chooseLang("xx", "ja"), "ja");
});

test("date-time fields are read in the zone, across daylight-saving changes, and shown back the same", () => {
  assert.equal(localToRfc3339("2026-12-01T09:00", "Asia/Tokyo"), "2026-12-01T00:00:00.000Z");
  assert.equal(localToRfc3339("2026-12-01T09:00", "UTC"), "2026-12-01T09:00:00.000Z");
  // New York: EDT (-4) before 1 November 2026, EST (-5) after.
  assert.equal(localToRfc3339("2026-10-31T12:00", "America/New_York"), "2026-10-31T16:00:00.000Z");
  assert.equal(localToRfc3339("2026-11-02T12:00", "America/New_York"), "2026-11-02T17:00:00.000Z");
  assert.equal(rfc3339ToLocal("2026-12-01T00:00:00Z", "Asia/Tokyo"), "2026-12-01T09:00");
  // Not a date-time field's value: passed on for the log query to refuse by name.
  assert.equal(localToRfc3339("yesterday", "Asia/Tokyo"), "yesterday");
});

test("the pages render when the service starts from another directory (no tsconfig.json to say how JSX compiles)", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-elsewhere-"));
  try {
    const script = `import { register } from ${JSON.stringify(import.meta.resolve("tsx/esm/api"))};
register();
const { consoleApp } = await import(${JSON.stringify(new URL("../src/admin/console.tsx", import.meta.url).href)});
const res = await consoleApp().request("/admin/sign-in", { headers: { "accept-language": "ja" } });
process.stdout.write(res.status + " " + (await res.text()));`;
    writeFileSync(path.join(dir, "probe.mjs"), script);
    const { stdout } = await promisify(execFile)(process.execPath, ["probe.mjs"], { cwd: dir, timeout: 60_000 });
    assert.match(stdout, /^200 <html lang="ja">[\s\S]*サインイン/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
