// DKIM signing on the SMTP door: a legacy server relays 8-bit mail (Shift_JIS, not
// UTF-8) from an allowlisted IP; the bytes the sink receives carry our signatures, which
// mailauth verifies against the keys in the loopback DNS, and the customer's own
// signature on an already-signed message still verifies.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { promises as nodeDns } from "node:dns";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import nodemailer from "nodemailer";
import { startDns, type TestDns } from "./helpers/dns-server.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";
import { type Sink, startSink } from "./helpers/sink.ts";

const require = createRequire(import.meta.url);
const { dkimVerify } = require("mailauth/lib/dkim/verify") as { dkimVerify: (m: Buffer, o: object) => Promise<{ results: any[] }> };
const { dkimSign } = require("mailauth/lib/dkim/sign") as { dkimSign: (m: Buffer, o: object) => Promise<{ signatures: string }> };

let dns: TestDns;
let sink: Sink;
let hk: TestService;
let selector: string;

before(async () => {
  sink = await startSink({ host: "127.0.0.2" });
  dns = await startDns({ "dest.test": { MX: [{ exchange: "mx.dest.test", priority: 10 }] }, "mx.dest.test": { A: ["127.0.0.2"] } });
  hk = await startTestService({ HIKYAKU_DNS_SERVERS: dns.address, HIKYAKU_MX_PORT: String(sink.port) });
  assert.equal((await hk.api("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] })).status, 200);
  const created = await hk.api("POST", "/v1/domains", { domain: "city.test" });
  for (const r of created.body.records) if (r.purpose === "dkim") dns.records[r.name] = { TXT: [r.strings] };
  assert.equal((await hk.api("POST", "/v1/domains/city.test/verify")).body.status, "active");
  selector = created.body.records.find((r: any) => r.algorithm === "rsa-sha256").selector;
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

async function relay(raw: Buffer, id: string): Promise<Buffer> {
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: hk.service.smtp?.relayPort, tls: { rejectUnauthorized: false } });
  try {
    await transport.sendMail({ envelope: { from: "bounces@city.test", to: ["a@dest.test"] }, raw });
  } finally {
    transport.close();
  }
  return (await eventually(async () => sink.messages.find((m) => m.raw.includes(`<${id}>`)), `the sink to receive ${id}`, 10_000)).raw;
}

const shiftJisMessage = (id: string) =>
  Buffer.concat([
    Buffer.from(
      `From: info@city.test\r\nTo: a@dest.test\r\nSubject: =?ISO-2022-JP?B?GyRCSHJGcTlwGyhC?=\r\nDate: Fri, 27 Nov 2026 09:00:00 +0900\r\nMessage-ID: <${id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`,
    ),
    Buffer.from([0x94, 0xf0, 0x93, 0xef, 0x8e, 0x77, 0x8e, 0xa6, 0x81, 0x40, 0x20, 0x09, 0x0d, 0x0a, 0x82, 0xa0, 0xa0, 0x0d, 0x0a, 0x0d, 0x0a]),
  ]);

test("8-bit Shift_JIS mail relayed over SMTP is signed, and the signatures verify at the sink", async () => {
  const sent = shiftJisMessage("smtp-1@city.test");
  const raw = await relay(sent, "smtp-1@city.test");
  const body = sent.subarray(sent.indexOf("\r\n\r\n"));
  assert.deepEqual(raw.subarray(raw.length - body.length), body, "the 8-bit body arrives byte for byte");
  const results = (await dkimVerify(raw, { resolver: resolver() })).results;
  assert.deepEqual(results.map((r) => r.algo).sort(), ["ed25519-sha256", "rsa-sha256"]);
  for (const r of results) assert.equal(r.status.result, "pass", `${r.algo}: ${r.status.comment ?? ""}`);
  assert.equal(results.find((r) => r.algo === "rsa-sha256").selector, selector);
});

test("an already-signed message relayed over SMTP keeps its signature valid", async () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const p = publicKey.export({ type: "spki", format: "der" }).toString("base64");
  dns.records["legacy._domainkey.town.test"] = { TXT: [[`v=DKIM1; p=${p.slice(0, 200)}`, p.slice(200)]] };
  const text = shiftJisMessage("smtp-2@town.test").toString("latin1").replace("From: info@city.test", "From: info@town.test");
  const message = Buffer.from(text, "latin1");
  const signed = await dkimSign(message, {
    canonicalization: "simple/simple",
    signatureData: [{ signingDomain: "town.test", selector: "legacy", privateKey: privateKey.export({ type: "pkcs8", format: "pem" }) }],
  });
  const original = Buffer.concat([Buffer.from(signed.signatures, "latin1"), message]);
  const transport = nodemailer.createTransport({ host: "127.0.0.1", port: hk.service.smtp?.relayPort, tls: { rejectUnauthorized: false } });
  await transport.sendMail({ envelope: { from: "bounces@town.test", to: ["a@dest.test"] }, raw: original });
  transport.close();
  const raw = (await eventually(async () => sink.messages.find((m) => m.raw.includes("<smtp-2@town.test>")), "the sink to receive it", 10_000)).raw;
  assert.deepEqual(raw.subarray(raw.length - original.length), original, "every byte the customer signed is unchanged");
  const results = (await dkimVerify(raw, { resolver: resolver() })).results;
  assert.equal(results.length, 1);
  assert.equal(results[0].signingDomain, "town.test");
  assert.equal(results[0].status.result, "pass", results[0].status.comment);
});
