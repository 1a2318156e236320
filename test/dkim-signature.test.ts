// The DKIM signer on its own, across the byte shapes that break naive signers, each
// signature checked by mailauth's verifier (not our code) with the public key served by
// the loopback test DNS server.
import assert from "node:assert/strict";
import { createPrivateKey } from "node:crypto";
import { promises as nodeDns } from "node:dns";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import { parseRaw, serialise } from "../src/accept/raw-message.ts";
import { loadConfig } from "../src/config.ts";
import type { Db } from "../src/db/client.ts";
import { dkimSignatures, type Signer } from "../src/domains/dkim-signature.ts";
import { dnsRecords } from "../src/domains/dns-records.ts";
import { generateDkimKey } from "../src/domains/key-generation.ts";
import { candidateDomains, forgetSigningKeys, signersFor } from "../src/domains/signing-keys.ts";
import { startDns, type TestDns } from "./helpers/dns-server.ts";

const require = createRequire(import.meta.url);
const { dkimVerify } = require("mailauth/lib/dkim/verify") as { dkimVerify: (m: Buffer, o: object) => Promise<{ results: any[] }> };

let dns: TestDns;
let signers: Signer[];

before(async () => {
  dns = await startDns({});
  const keys = await Promise.all([generateDkimKey("rsa-sha256", "unit1"), generateDkimKey("ed25519-sha256", "unit1")]);
  const config = loadConfig({ HIKYAKU_HOSTNAME: "hikyaku.test" });
  for (const r of dnsRecords(
    "sig.test",
    keys.map((k) => ({ ...k, state: "active" })),
    config,
  )) {
    if (r.purpose === "dkim") dns.records[r.name] = { TXT: [r.strings] };
  }
  signers = keys.map((k) => ({ algorithm: k.algorithm, domain: "sig.test", selector: k.selector, privateKey: createPrivateKey(k.privatePem) }));
});

after(async () => {
  await dns?.close();
});

function resolver(address: string) {
  const r = new nodeDns.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([address]);
  return (name: string, rr: string) => r.resolve(name, rr as "TXT");
}

/** Signs `raw` as accept() does (new fields on top) and returns mailauth's verdict per signature. */
async function signAndVerify(raw: Buffer, opts: { strict?: boolean } = {}) {
  const msg = parseRaw(raw);
  const signed = serialise({ headers: [...dkimSignatures(signers, msg.headers, msg.body, new Date()), ...msg.headers], body: msg.body });
  assert.deepEqual(signed.subarray(signed.length - raw.length), raw, "every original byte is kept, after the new fields");
  const { results } = await dkimVerify(signed, { resolver: resolver(dns.address), ...opts });
  return { signed, results };
}

function assertBothPass(results: any[]) {
  assert.equal(results.length, 2, "two signatures");
  const byAlgo = Object.fromEntries(results.map((r) => [r.algo, r]));
  for (const algo of ["rsa-sha256", "ed25519-sha256"]) {
    const r = byAlgo[algo];
    assert.ok(r, `${algo} signature present`);
    assert.equal(r.status.result, "pass", `${algo}: ${r.status.comment ?? ""}`);
    assert.equal(r.signingDomain, "sig.test");
  }
}

const head = (extra = "") =>
  `From: "Sig" <a@sig.test>\r\nTo: b@dest.test\r\nSubject: test\r\nDate: Fri, 27 Nov 2026 09:00:00 +0900\r\nMessage-ID: <x1@sig.test>\r\nMIME-Version: 1.0\r\n${extra}`;

describe("DKIM signatures verify with mailauth", () => {
  test("plain ASCII, in strict mode too", async () => {
    const raw = Buffer.from(`${head("Content-Type: text/plain\r\n")}\r\nhello\r\n`);
    assertBothPass((await signAndVerify(raw)).results);
    assertBothPass((await signAndVerify(raw, { strict: true })).results);
  });

  test("8-bit UTF-8 body with ideographic and no-break spaces, trailing whitespace, blank lines at the end", async () => {
    const body = "お知らせ\u3000\r\n\u3000\u3000本文です。  \t \r\nnbsp\u00a0\r\n\r\n \r\n\r\n";
    const raw = Buffer.from(`${head("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")}\r\n${body}`, "utf8");
    assertBothPass((await signAndVerify(raw)).results);
  });

  test("8-bit bytes that are not UTF-8 (Shift_JIS)", async () => {
    const sjis = Buffer.from([0x82, 0xa0, 0x82, 0xa2, 0x81, 0x40, 0xa0, 0x20, 0x0d, 0x0a, 0x93, 0xfa, 0x96, 0x7b, 0x0d, 0x0a]);
    const raw = Buffer.concat([Buffer.from(`${head("Content-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n")}\r\n`), sjis]);
    assertBothPass((await signAndVerify(raw)).results);
  });

  test("raw UTF-8 headers, folded headers with odd whitespace", async () => {
    const raw = Buffer.from(
      "From: 飛脚 商店 <a@sig.test>\r\nTo:   b@dest.test ,\r\n\t c@dest.test\r\nSubject:\t件名   テスト \r\n  続き\t\r\nDate: Fri, 27 Nov 2026 09:00:00 +0900\r\nMIME-Version: 1.0\r\n\r\nbody\r\n",
      "utf8",
    );
    assertBothPass((await signAndVerify(raw)).results);
  });

  test("long lines (990 octets), empty body, body without final CRLF", async () => {
    const long = "x".repeat(990);
    assertBothPass((await signAndVerify(Buffer.from(`${head()}\r\n${long}\r\n${long} \r\n`))).results);
    assertBothPass((await signAndVerify(Buffer.from(`${head()}\r\n`))).results);
    assertBothPass((await signAndVerify(Buffer.from(`${head()}\r\nno newline at the end`))).results);
  });

  test("From is signed once more than it occurs: a prepended From breaks the signature", async () => {
    const { signed, results } = await signAndVerify(Buffer.from(`${head()}\r\nhi\r\n`));
    assertBothPass(results);
    const field =
      signed
        .toString()
        .split(/\r\n(?! |\t)/)[0]
        ?.replace(/\r\n[ \t]/g, "") ?? "";
    assert.match(field, /;\s*h=from:from:/, "h= lists from twice");
    assert.doesNotMatch(signed.toString(), /\bl=\d/, "no l= tag");
    assert.match(signed.toString(), /c=relaxed\/relaxed/);
    const tampered = Buffer.concat([Buffer.from("From: evil@attacker.test\r\n"), signed]);
    const after = await dkimVerify(tampered, { resolver: resolver(dns.address) });
    for (const r of after.results) assert.notEqual(r.status.result, "pass", "prepending a From breaks the signature");
  });

  test("repeated fields (two Received, two To) are covered bottom-up", async () => {
    const raw = Buffer.from(`Received: from a\r\nReceived: from b\r\n${head("To: second@dest.test\r\nList-Unsubscribe: <https://sig.test/u>\r\n")}\r\nhi\r\n`);
    assertBothPass((await signAndVerify(raw)).results);
  });
});

describe("signing keys per process", () => {
  test("one database read per account and From domain until the domain changes", async () => {
    let reads = 0;
    const sql = async () => {
      reads++;
      return [];
    };
    const db = { sql } as unknown as Db;
    const deps = { db, config: loadConfig({}) };
    assert.deepEqual(await signersFor(deps, "acct-cache", "a.b.shop.test"), []);
    assert.deepEqual(await signersFor(deps, "acct-cache", "a.b.shop.test"), []);
    assert.equal(reads, 1, "the second message costs no database round trip");
    forgetSigningKeys("acct-cache");
    await signersFor(deps, "acct-cache", "a.b.shop.test");
    assert.equal(reads, 2, "a change to the account's domains is seen at once");
    assert.deepEqual(candidateDomains("a.b.shop.test"), ["a.b.shop.test", "b.shop.test", "shop.test"]);
  });
});
