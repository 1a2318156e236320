// Sender rules (F7) on the HTTP door: a free-mail envelope sender is refused with a
// sentence saying why, naming the field that gave it; nothing is stored.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { checkEnvelopeSender, freeMailProvider } from "../src/accept/sender-rules.ts";
import { AppError } from "../src/errors.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

const LISTED = [
  "gmail.com",
  "googlemail.com",
  "yahoo.co.jp",
  "yahoo.com",
  "ymail.com",
  "outlook.com",
  "outlook.jp",
  "hotmail.com",
  "hotmail.co.jp",
  "live.com",
  "live.jp",
  "msn.com",
  "icloud.com",
  "me.com",
  "mac.com",
  "aol.com",
  "docomo.ne.jp",
  "ezweb.ne.jp",
  "au.com",
  "softbank.ne.jp",
  "i.softbank.jp",
];

let hk: TestService;

before(async () => {
  hk = await startTestService();
});

after(async () => {
  await hk?.stop();
});

async function messageCount(): Promise<number> {
  const [row] = await hk.service.db.sql<{ n: number }[]>`select count(*)::int as n from messages where account_id = ${hk.accountId}`;
  return row?.n ?? -1;
}

function assertRefused(res: { status: number; body: any }, field: string, domain: string) {
  assert.equal(res.status, 422, JSON.stringify(res.body));
  assert.equal(res.body.error.code, "sender_refused");
  assert.equal(res.body.error.field, field);
  assert.match(res.body.error.message, new RegExp(`at ${domain.replace(/\./g, "\\.")}, a free-mail provider`));
  assert.match(res.body.error.message, /Bounces must come back to the sender's own domain/);
}

describe("free-mail envelope senders are refused on the HTTP door", () => {
  test("every listed domain, given as From without return_path: field from", async () => {
    for (const domain of LISTED) {
      const res = await hk.api("POST", "/v1/messages", { from: `News <news@${domain}>`, to: "a@dest.test", subject: "s", text: "t" });
      assertRefused(res, "from", domain);
    }
    assert.equal(await messageCount(), 0, "nothing stored");
  });

  test("every listed domain, given as return_path: field return_path", async () => {
    for (const domain of LISTED) {
      const res = await hk.api("POST", "/v1/messages", { from: "shop@shop.test", return_path: `Bounce@${domain.toUpperCase()}`, to: "a@dest.test", text: "t" });
      assertRefused(res, "return_path", domain);
    }
    assert.equal(await messageCount(), 0);
  });

  test("raw with a free-mail envelope.from: field envelope.from; subdomains of a provider count too", async () => {
    const raw = "From: shop@shop.test\r\nTo: a@dest.test\r\nSubject: s\r\n\r\nbody\r\n";
    const res = await hk.api("POST", "/v1/messages", { raw, envelope: { from: "x@gmail.com", to: ["a@dest.test"] } });
    assertRefused(res, "envelope.from", "gmail.com");
    const sub = await hk.api("POST", "/v1/messages", { raw, envelope: { from: "x@mail.yahoo.co.jp", to: ["a@dest.test"] } });
    assertRefused(sub, "envelope.from", "yahoo.co.jp");
    assert.equal(await messageCount(), 0);
  });

  test("an empty return_path is refused: the empty sender is only for the service's own bounces", async () => {
    const res = await hk.api("POST", "/v1/messages", { from: "shop@shop.test", return_path: "", to: "a@dest.test", text: "t" });
    assert.equal(res.status, 422);
    assert.equal(res.body.error.code, "sender_refused");
    assert.equal(res.body.error.field, "return_path");
    assert.match(res.body.error.message, /only for the service's own bounces/);
    assert.equal(await messageCount(), 0);
  });

  test("the customer's own domain, and look-alikes of providers, are accepted", async () => {
    for (const from of ["shop@shop.test", "a@notgmail.com", "a@gmail.com.shop.test"]) {
      const res = await hk.api("POST", "/v1/messages", { from, to: "a@dest.test", text: "t" });
      assert.equal(res.status, 202, `${from}: ${JSON.stringify(res.body)}`);
    }
  });
});

describe("checkEnvelopeSender", () => {
  test("only the service's own bounces may use the empty sender", () => {
    assert.doesNotThrow(() => checkEnvelopeSender("", { field: "return_path", internal: true }));
    assert.throws(
      () => checkEnvelopeSender("", { field: "MAIL FROM", internal: false }),
      (e) => e instanceof AppError && e.code === "sender_refused" && e.field === "MAIL FROM",
    );
  });

  test("providers are matched on whole labels", () => {
    assert.equal(freeMailProvider("GMAIL.COM"), "gmail.com");
    assert.equal(freeMailProvider("x.i.softbank.jp"), "i.softbank.jp");
    assert.equal(freeMailProvider("mygmail.com"), undefined);
    assert.equal(freeMailProvider("jp"), undefined);
  });
});
