// DKIM signing at acceptance, end to end: messages enter through the HTTP door, reach a
// real SMTP sink through real DNS, and every signature in the bytes the sink received is
// checked by mailauth's verifier (not our code), resolving keys through the test DNS.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { promises as nodeDns } from "node:dns";
import { createRequire } from "node:module";
import { after, before, describe, test } from "node:test";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

const require = createRequire(import.meta.url);
const { dkimVerify } = require("mailauth/lib/dkim/verify") as { dkimVerify: (m: Buffer, o: object) => Promise<{ results: Verdict[] }> };
const { dkimSign } = require("mailauth/lib/dkim/sign") as { dkimSign: (m: Buffer, o: object) => Promise<{ signatures: string; errors: unknown[] }> };

interface Verdict {
  signingDomain: string;
  selector: string;
  algo: string;
  status: { result: string; comment?: string };
}

let dns: TestDns;
let sink: Sink;
let hk: TestService;
let shopSelector: string;

type Rec = { purpose: string; name: string; strings: string[]; selector?: string; algorithm?: string };
const publish = (records: Rec[]) => {
  for (const r of records) if (r.purpose === "dkim") dns.records[r.name] = { TXT: [r.strings] };
};

async function activeDomain(domain: string): Promise<Rec[]> {
  const created = await hk.api("POST", "/v1/domains", { domain });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  publish(created.body.records);
  const verified = await hk.api("POST", `/v1/domains/${domain}/verify`);
  assert.equal(verified.body.status, "active", JSON.stringify(verified.body.checks));
  return created.body.records;
}

before(async () => {
  sink = await startSink({ host: "127.0.0.2" });
  dns = await startDns({
    "dest.test": { MX: [{ exchange: "mx.dest.test", priority: 10 }] },
    "mx.dest.test": { A: ["127.0.0.2"] },
  });
  hk = await startTestService({
    HIKYAKU_DNS_SERVERS: dns.address,
    HIKYAKU_MX_PORT: String(sink.port),
    HIKYAKU_SECRET_KEY: "test-secret-0123456789-0123456789-abcdef",
  });
  const records = await activeDomain("shop.test");
  shopSelector = records.find((r) => r.algorithm === "rsa-sha256")?.selector ?? "";
});

after(async () => {
  await hk?.stop();
  await sink?.close();
  await dns?.close();
});

function resolver() {
  const r = new nodeDns.Resolver({ timeout: 2000, tries: 1 });
  r.setServers([dns.address]);
  return (name: string, rr: string) => r.resolve(name, rr as "TXT");
}

const verify = async (raw: Buffer) => (await dkimVerify(raw, { resolver: resolver() })).results;

/** Sends through POST /v1/messages and returns the exact bytes the sink received. */
async function sendAndReceive(body: Record<string, unknown>): Promise<Buffer> {
  const res = await hk.api("POST", "/v1/messages", body);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const id = res.body.message_id as string;
  const got = await eventually(async () => sink.messages.find((m) => m.raw.includes(`<${id}>`)), `the sink to receive ${id}`, 10_000);
  return got.raw;
}

/** The DKIM-Signature fields at the top of `raw`, unfolded. */
function topSignatures(raw: Buffer): string[] {
  const head = raw.toString("latin1").split("\r\n\r\n")[0] ?? "";
  return head
    .split(/\r\n(?![ \t])/)
    .filter((f) => /^dkim-signature:/i.test(f))
    .map((f) => f.replace(/\r\n[ \t]/g, " "));
}

function assertOursPass(results: Verdict[], domain: string, selector: string) {
  const ours = results.filter((r) => r.signingDomain === domain);
  assert.deepEqual(ours.map((r) => r.algo).sort(), ["ed25519-sha256", "rsa-sha256"], "an RSA and an Ed25519 signature");
  for (const r of ours) assert.equal(r.status.result, "pass", `${r.algo} s=${r.selector}: ${r.status.comment ?? ""}`);
  assert.equal(ours.find((r) => r.algo === "rsa-sha256")?.selector, selector);
}

describe("structured JSON messages are signed", () => {
  test("UTF-8 names and subject, multipart text+html, attachments, long lines, trailing whitespace", async () => {
    const raw = await sendAndReceive({
      from: { email: "orders@shop.test", name: "飛脚商店 (Hikyaku Shop)" },
      to: ["山田 太郎 <taro@dest.test>"],
      cc: "hanako@dest.test",
      reply_to: "support@shop.test",
      subject: "ご注文ありがとうございます — order #1234 ✓",
      text: `注文を承りました。\u3000\n${"長い行".repeat(400)}\ntrailing spaces   \n\ttab line\t\n\n\n`,
      html: `<p>注文を承りました。</p><p>${"x".repeat(3000)}</p>`,
      headers: { "List-Unsubscribe": "<https://shop.test/unsubscribe/1>", "X-Order": "1234" },
      attachments: [
        {
          filename: "領収書.pdf",
          content: Buffer.from(`%PDF-1.4\n${"\u0000\u00ff".repeat(500)}`, "latin1").toString("base64"),
          content_type: "application/pdf",
        },
        { filename: "note.txt", content: Buffer.from("line  \r\n").toString("base64") },
      ],
    });
    const sigs = topSignatures(raw);
    assert.equal(sigs.length, 2);
    assert.match(sigs[0] ?? "", /a=rsa-sha256; c=relaxed\/relaxed; d=shop\.test;/);
    assert.match(sigs[1] ?? "", /a=ed25519-sha256/);
    const h =
      /h=([^;]+);/
        .exec(sigs[0] ?? "")?.[1]
        ?.replace(/\s/g, "")
        .split(":") ?? [];
    for (const name of ["from", "to", "cc", "subject", "date", "message-id", "reply-to", "mime-version", "content-type", "list-unsubscribe"]) {
      assert.ok(h.includes(name), `h= covers ${name}`);
    }
    assert.equal(h.filter((n) => n === "from").length, 2, "From signed twice");
    assert.doesNotMatch(sigs[0] ?? "", /\bl=/, "no l= tag");
    assertOursPass(await verify(raw), "shop.test", shopSelector);
  });

  test("From a subdomain is signed with the parent's key", async () => {
    const raw = await sendAndReceive({ from: "news@mail.news.shop.test", to: "a@dest.test", subject: "sub", text: "hi" });
    assertOursPass(await verify(raw), "shop.test", shopSelector);
  });

  test("From a domain without a key is not signed", async () => {
    const raw = await sendAndReceive({ from: "a@unregistered.test", to: "a@dest.test", subject: "x", text: "hi" });
    assert.equal(topSignatures(raw).length, 0);
  });
});

describe("raw messages keep every byte", () => {
  const rawMessage = (from: string, id: string) =>
    [
      `From: =?UTF-8?B?${Buffer.from("飛脚").toString("base64")}?= <${from}>`,
      "To: a@dest.test",
      "Subject: 件名\t  with   UTF-8 and",
      "  a folded continuation  ",
      "Date: Fri, 27 Nov 2026 09:00:00 +0900",
      `Message-ID: <${id}>`,
      "MIME-Version: 1.0",
      "Content-Type: text/plain; charset=utf-8",
      "Content-Transfer-Encoding: 8bit",
      "",
      `8ビットの本文\u3000\u3000全角スペース\u3000`,
      "trailing whitespace \t ",
      "x".repeat(900),
      "",
      "",
    ].join("\r\n");

  test("8-bit UTF-8 raw: the sink gets our signatures on top of exactly the given bytes", async () => {
    const text = rawMessage("orders@shop.test", "raw-1@shop.test");
    const raw = await sendAndReceive({ raw: `X-Hikyaku-Tags: raw\r\n${text}`, envelope: { from: "bounces@shop.test", to: ["a@dest.test"] } });
    const given = Buffer.from(text, "utf8");
    assert.deepEqual(raw.subarray(raw.length - given.length), given, "the message below our fields is byte-for-byte what was sent (minus the extended header)");
    assert.doesNotMatch(raw.toString(), /X-Hikyaku/i);
    assert.equal(topSignatures(raw).length, 2);
    assertOursPass(await verify(raw), "shop.test", shopSelector);
  });

  test("an already-signed message from another domain is relayed unchanged and its signature still verifies", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const p = publicKey.export({ type: "spki", format: "der" }).toString("base64");
    dns.records["cust1._domainkey.customer.test"] = { TXT: [[`v=DKIM1; k=rsa; p=${p.slice(0, 200)}`, p.slice(200)]] };
    const text = Buffer.from(rawMessage("info@customer.test", "signed-1@customer.test"), "utf8");
    const signed = await dkimSign(text, {
      canonicalization: "simple/simple",
      signatureData: [{ signingDomain: "customer.test", selector: "cust1", privateKey: privateKey.export({ type: "pkcs8", format: "pem" }) }],
    });
    const original = Buffer.concat([Buffer.from(signed.signatures, "utf8"), text]);
    assert.equal((await verify(original))[0]?.status.result, "pass", "the test's own signature is good before sending");

    const raw = await sendAndReceive({ raw: original.toString("utf8"), envelope: { from: "bounces@customer.test", to: ["a@dest.test"] } });
    assert.deepEqual(raw, original, "not one byte changed");
    const results = await verify(raw);
    assert.equal(results.length, 1);
    assert.equal(results[0]?.signingDomain, "customer.test");
    assert.equal(results[0]?.status.result, "pass");
  });

  test("a message the customer signed for our domain gets our signatures on top; both verify", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const spki = publicKey.export({ type: "spki", format: "der" });
    dns.records["own._domainkey.shop.test"] = { TXT: [[`v=DKIM1; k=ed25519; p=${spki.subarray(-32).toString("base64")}`]] };
    const text = Buffer.from(rawMessage("orders@shop.test", "signed-2@shop.test"), "utf8");
    const signed = await dkimSign(text, {
      canonicalization: "simple/simple",
      signatureData: [{ signingDomain: "shop.test", selector: "own", privateKey: privateKey.export({ type: "pkcs8", format: "pem" }) }],
    });
    const original = Buffer.concat([Buffer.from(signed.signatures, "utf8"), text]);
    const raw = await sendAndReceive({ raw: original.toString("utf8"), envelope: { from: "bounces@shop.test", to: ["a@dest.test"] } });
    assert.deepEqual(raw.subarray(raw.length - original.length), original);
    const results = await verify(raw);
    assert.equal(results.length, 3);
    for (const r of results) assert.equal(r.status.result, "pass", `${r.selector}: ${r.status.comment ?? ""}`);
    assert.deepEqual(
      topSignatures(raw).map((s) => /s=([^;]+);/.exec(s)?.[1]),
      [shopSelector, `${shopSelector}-ed`, "own"],
    );
  });
});

describe("when signing starts", () => {
  test("a pending domain does not sign; with sign_before_verify it signs with the pending key", async () => {
    const created = await hk.api("POST", "/v1/domains", { domain: "early.test" });
    const before = await sendAndReceive({ from: "a@early.test", to: "a@dest.test", text: "pending" });
    assert.equal(topSignatures(before).length, 0, "no signature before the record verifies");

    const patched = await hk.api("PATCH", "/v1/domains/early.test", { sign_before_verify: true });
    assert.equal(patched.body.signing, true);
    publish(created.body.records); // published but never verified through the API
    const after = await sendAndReceive({ from: "a@early.test", to: "a@dest.test", text: "signed early" });
    const selector = created.body.records.find((r: Rec) => r.algorithm === "rsa-sha256").selector;
    assertOursPass(await verify(after), "early.test", selector);
  });

  test("rotation: the old selector signs until the new record verifies, the new one after", async () => {
    const first = await activeDomain("rotor.test");
    const oldSelector = first.find((r) => r.algorithm === "rsa-sha256")?.selector ?? "";
    const send = () => sendAndReceive({ from: "a@rotor.test", to: "a@dest.test", subject: "rotation", text: "hi" });

    const rotated = await hk.api("POST", "/v1/domains/rotor.test/rotate");
    assert.equal(rotated.status, 201);
    const newSelector = rotated.body.records.find((r: Rec) => r.algorithm === "rsa-sha256" && r.selector !== oldSelector).selector;
    assertOursPass(await verify(await send()), "rotor.test", oldSelector);

    publish(rotated.body.records);
    assertOursPass(await verify(await send()), "rotor.test", oldSelector);

    const verified = await hk.api("POST", "/v1/domains/rotor.test/verify");
    assert.equal(verified.body.dkim_keys.find((k: any) => k.selector === oldSelector).state, "retired");
    assertOursPass(await verify(await send()), "rotor.test", newSelector);
  });

  test("a deleted domain stops signing at once in this process", async () => {
    await activeDomain("gone.test");
    assert.equal((await hk.api("DELETE", "/v1/domains/gone.test")).status, 204);
    const raw = await sendAndReceive({ from: "a@gone.test", to: "a@dest.test", text: "bye" });
    assert.equal(topSignatures(raw).length, 0);
  });
});
