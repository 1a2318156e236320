// Sending domains over the API: registration and its DNS records, verification through
// the loopback DNS server, rotation, deletion, bad inputs, tenant isolation, and keys
// that are never readable in the database.
import assert from "node:assert/strict";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { SECRET_FILE } from "../src/domains/key-encryption.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

let dns: TestDns;
let hk: TestService;
let dataDir: string;

before(async () => {
  dns = await startDns({});
  dataDir = mkdtempSync(path.join(os.tmpdir(), "hikyaku-domains-"));
  hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_DATA_DIR: dataDir, HIKYAKU_SPF_INCLUDE: "_spf.relay.hikyaku.test" });
});

after(async () => {
  await hk?.stop();
  await dns?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

type Rec = { purpose: string; name: string; value: string; strings: string[]; required: boolean; selector?: string; algorithm?: string };

/** Puts a domain's records (as the API lists them) into the test DNS. */
function publish(records: Rec[], only?: (r: Rec) => boolean) {
  for (const r of records.filter(only ?? (() => true))) dns.records[r.name] = { TXT: [r.strings] };
}

async function create(domain: string, extra: Record<string, unknown> = {}) {
  const res = await hk.api("POST", "/v1/domains", { domain, ...extra });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

describe("POST /v1/domains", () => {
  test("generates an RSA-2048 key under a dated selector and lists the records to publish", async () => {
    const d = await create("shop.test");
    assert.equal(d.domain, "shop.test");
    assert.equal(d.status, "pending");
    assert.equal(d.signing, false);
    assert.equal(d.return_path_domain, "shop.test");
    const month = new Date().toISOString().slice(0, 7).replace("-", "");
    const rsa = d.records.find((r: Rec) => r.algorithm === "rsa-sha256");
    assert.match(rsa.selector, new RegExp(`^hk${month}[0-9a-f]{4}$`));
    assert.equal(rsa.name, `${rsa.selector}._domainkey.shop.test`);
    assert.match(rsa.value, /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+$/);
    assert.equal(rsa.required, true);
    assert.ok(rsa.strings.length >= 2, "a 2048-bit key does not fit one string");
    for (const s of rsa.strings) assert.ok(Buffer.byteLength(s) <= 255, "each string at most 255 bytes");
    assert.equal(rsa.strings.join(""), rsa.value);
    const der = Buffer.from(rsa.value.split("p=")[1], "base64");
    assert.equal(createPublicKey({ key: der, format: "der", type: "spki" }).asymmetricKeyDetails?.modulusLength, 2048);
    const ed = d.records.find((r: Rec) => r.algorithm === "ed25519-sha256");
    assert.match(ed.value, /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
    assert.equal(ed.required, false);
    const spf = d.records.find((r: Rec) => r.purpose === "spf");
    assert.deepEqual([spf.name, spf.value], ["shop.test", "v=spf1 include:_spf.relay.hikyaku.test ~all"]);
    const dmarc = d.records.find((r: Rec) => r.purpose === "dmarc");
    assert.equal(dmarc.name, "_dmarc.shop.test");
    assert.match(dmarc.value, /^v=DMARC1; p=none/);
    assert.deepEqual(
      d.dkim_keys.map((k: any) => [k.algorithm, k.state]),
      [
        ["rsa-sha256", "pending"],
        ["ed25519-sha256", "pending"],
      ],
    );
    assert.doesNotMatch(JSON.stringify(d), /PRIVATE|BEGIN/, "no private key in the answer");
  });

  test("an IDN is stored in punycode and found by either spelling", async () => {
    const d = await create("例え.jp");
    assert.equal(d.domain, "xn--r8jz45g.jp");
    assert.equal(d.unicode, "例え.jp");
    const byUnicode = await hk.api("GET", `/v1/domains/${encodeURIComponent("例え.jp")}`);
    assert.equal(byUnicode.status, 200);
    assert.equal(byUnicode.body.domain, "xn--r8jz45g.jp");
    assert.ok(d.records.every((r: Rec) => r.name.endsWith("xn--r8jz45g.jp")));
  });

  test("invalid domain names are refused with a sentence naming the field", async () => {
    const bad = [
      "bad_name.test",
      "a..b.test",
      ".lead.test",
      "",
      "localhost",
      "192.0.2.1",
      "[192.0.2.1]",
      "::1",
      `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}.test`,
      "-x.test",
      "gmail.com",
      "a b.test",
    ];
    for (const domain of bad) {
      const res = await hk.api("POST", "/v1/domains", { domain });
      assert.equal(res.status, 422, `${domain}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, "validation_error");
      assert.equal(res.body.error.field, "domain");
      assert.match(res.body.error.message, /not a domain name you can send from \(.+\)/);
    }
    const none = await hk.api("GET", "/v1/domains");
    assert.ok(!none.body.data.some((d: any) => d.domain.includes("bad") || d.domain === "gmail.com"));
  });

  test("a domain this account holds answers 409; another account's unverified registration does not block", async () => {
    await create("taken.test");
    const again = await hk.api("POST", "/v1/domains", { domain: "TAKEN.test" });
    assert.equal(again.status, 409);
    assert.match(again.body.error.message, /already registered in this account/);
    const other = await hk.newAccount();
    const res = await fetch(`${hk.url}/v1/domains`, {
      method: "POST",
      headers: { authorization: `Bearer ${other.key}`, "content-type": "application/json" },
      body: JSON.stringify({ domain: "taken.test" }),
    });
    assert.equal(res.status, 201, "verification decides who owns it (test/domain-ownership.test.ts)");
  });
});

describe("reading, changing and deleting", () => {
  test("unknown domains and another account's domains answer 404 on every route", async () => {
    await create("mine.test");
    const other = await hk.newAccount();
    const as = (key: string) => (method: string, p: string, body?: unknown) =>
      fetch(`${hk.url}${p}`, {
        method,
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    for (const [key, domain] of [
      [hk.key, "unknown.test"],
      [other.key, "mine.test"],
      [hk.key, "bad_name.test"],
    ] as const) {
      const call = as(key);
      for (const [method, p, body] of [
        ["GET", `/v1/domains/${domain}`],
        ["PATCH", `/v1/domains/${domain}`, { sign_before_verify: true }],
        ["DELETE", `/v1/domains/${domain}`],
        ["POST", `/v1/domains/${domain}/verify`],
        ["POST", `/v1/domains/${domain}/rotate`],
      ] as const) {
        const res = await call(method, p, body);
        assert.equal(res.status, 404, `${method} ${p}`);
        assert.equal(((await res.json()) as any).error.code, "not_found");
      }
    }
    const list = (await (await as(other.key)("GET", "/v1/domains")).json()) as any;
    assert.deepEqual(list.data, []);
    assert.equal((await hk.api("GET", "/v1/domains/mine.test")).status, 200, "still there for its owner");
  });

  test("list pages in name order; PATCH sets sign_before_verify; DELETE removes the domain and its keys", async () => {
    await create("list-a.test");
    await create("list-b.test");
    const first = await hk.api("GET", "/v1/domains?limit=1");
    assert.equal(first.body.data.length, 1);
    assert.ok(first.body.next_cursor);
    const all = [];
    let cursor: string | null = null;
    do {
      const page: any = await hk.api("GET", `/v1/domains?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      all.push(...page.body.data.map((d: any) => d.domain));
      cursor = page.body.next_cursor;
    } while (cursor);
    assert.deepEqual(all, [...all].sort());
    assert.ok(all.includes("list-a.test") && all.includes("list-b.test"));

    const patched = await hk.api("PATCH", "/v1/domains/list-a.test", { sign_before_verify: true });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.sign_before_verify, true);
    assert.equal(patched.body.signing, true);
    assert.equal(patched.body.status, "pending");

    const del = await hk.api("DELETE", "/v1/domains/list-a.test");
    assert.equal(del.status, 204);
    assert.equal((await hk.api("GET", "/v1/domains/list-a.test")).status, 404);
    const [row] = await hk.service.db.sql<
      { n: number }[]
    >`select count(*)::int as n from dkim_keys k left join domains d on d.id = k.domain_id where d.id is null`;
    assert.equal(row?.n, 0, "no orphaned keys");
  });
});

describe("verification and rotation", () => {
  test("reports missing, mismatched and found; the found DKIM record activates the key", async () => {
    const d = await create("verify.test");
    const missing = await hk.api("POST", "/v1/domains/verify.test/verify");
    assert.equal(missing.status, 200);
    assert.deepEqual(
      missing.body.checks.map((c: any) => [c.purpose, c.status]),
      [
        ["dkim", "missing"],
        ["dkim", "missing"],
        ["spf", "missing"],
        ["dmarc", "missing"],
      ],
    );
    assert.equal(missing.body.status, "pending");

    const rsa = d.records.find((r: Rec) => r.algorithm === "rsa-sha256");
    dns.records[rsa.name] = { TXT: [["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong"]] };
    dns.records["verify.test"] = { TXT: [["v=spf1 include:_spf.elsewhere.test -all"], ["google-site-verification=abc"]] };
    const wrong = await hk.api("POST", "/v1/domains/verify.test/verify");
    const rsaCheck = wrong.body.checks.find((c: any) => c.algorithm === "rsa-sha256");
    assert.equal(rsaCheck.status, "mismatched");
    assert.deepEqual(rsaCheck.seen, ["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong"]);
    assert.equal(rsaCheck.expected, rsa.value);
    const spfCheck = wrong.body.checks.find((c: any) => c.purpose === "spf");
    assert.equal(spfCheck.status, "mismatched");
    assert.deepEqual(spfCheck.seen, ["v=spf1 include:_spf.elsewhere.test -all"]);
    assert.match(spfCheck.detail, /include:_spf\.relay\.hikyaku\.test/);
    assert.equal(wrong.body.status, "pending");

    publish(d.records, (r) => r.purpose === "dkim" || r.purpose === "dmarc");
    dns.records["verify.test"] = { TXT: [["v=spf1 ip4:192.0.2.1 include:_spf.relay.hikyaku.test ~all"]] };
    const ok = await hk.api("POST", "/v1/domains/verify.test/verify");
    assert.deepEqual(
      ok.body.checks.map((c: any) => c.status),
      ["found", "found", "found", "found"],
    );
    assert.equal(ok.body.status, "active");
    assert.equal(ok.body.signing, true);
    assert.ok(ok.body.dkim_keys.every((k: any) => k.state === "active" && k.verified_at));
  });

  test("rotation: a new pending selector, the old key stays active until the new record is found, then retires", async () => {
    const d = await create("rotate.test");
    publish(d.records, (r) => r.purpose === "dkim");
    await hk.api("POST", "/v1/domains/rotate.test/verify");
    const oldSelector = d.records.find((r: Rec) => r.algorithm === "rsa-sha256").selector;

    const rotated = await hk.api("POST", "/v1/domains/rotate.test/rotate");
    assert.equal(rotated.status, 201);
    const newRsa = rotated.body.records.find((r: Rec) => r.algorithm === "rsa-sha256" && r.selector !== oldSelector);
    assert.ok(newRsa, "the new selector's record is listed");
    assert.ok(
      rotated.body.records.some((r: Rec) => r.selector === oldSelector),
      "the old record stays listed while it signs",
    );
    const state = (body: any, sel: string) => body.dkim_keys.find((k: any) => k.selector === sel && k.algorithm === "rsa-sha256").state;
    assert.equal(state(rotated.body, oldSelector), "active");
    assert.equal(state(rotated.body, newRsa.selector), "pending");
    assert.equal(rotated.body.status, "active");

    const before = await hk.api("POST", "/v1/domains/rotate.test/verify");
    assert.equal(state(before.body, oldSelector), "active", "new record not published yet");

    publish(rotated.body.records, (r) => r.purpose === "dkim");
    const afterVerify = await hk.api("POST", "/v1/domains/rotate.test/verify");
    assert.equal(state(afterVerify.body, newRsa.selector), "active");
    assert.equal(state(afterVerify.body, oldSelector), "retired");
    assert.ok(!afterVerify.body.records.some((r: Rec) => r.selector === oldSelector), "a retired key's record is no longer listed");
  });
});

describe("keys at rest", () => {
  test("the database holds no private key in plain text; the secret file is created once, mode 0600", async () => {
    await create("rest.test");
    const rows = await hk.service.db.sql`
      select k.id, k.private_key, k.public_key from dkim_keys k join domains d on d.id = k.domain_id where d.domain = 'rest.test'`;
    assert.equal(rows.length, 2);
    for (const r of rows) {
      const blob = r.private_key as Buffer;
      const text = blob.toString("latin1");
      assert.doesNotMatch(text, /PRIVATE KEY|BEGIN|MII/, "no PEM or DER marker");
      assert.throws(() => createPrivateKey(blob), "not a usable key as stored");
      assert.throws(() => createPrivateKey({ key: blob, format: "der", type: "pkcs8" }));
      assert.ok(blob.length > 100, "an encrypted key is stored");
    }
    const dump = await hk.service.db.sql`select string_agg(encode(private_key, 'escape'), '') as s from dkim_keys`;
    assert.doesNotMatch(String(dump[0]?.s), /PRIVATE KEY/);
    const file = path.join(dataDir, SECRET_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(Buffer.from(readFileSync(file, "utf8").trim(), "base64").length, 32);
  });
});
