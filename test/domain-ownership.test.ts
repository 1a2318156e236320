// Verification proves who owns a sending domain: the first account whose DKIM record is
// found owns it (and its subdomains), and every other account is refused mail From it
// or with a return path at it, over the HTTP door and the SMTP door, before anything is
// stored. Registration alone blocks nobody.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { eventually, type MxWorld, startWithMx } from "./helpers/service.ts";
import { rawSmtp } from "./helpers/smtp-client.ts";

let w: MxWorld;
type Account = { accountId: string; key: string };
let squatter: Account; // registers first, never verifies
let owner: Account; // registers second, verifies
let third: Account;

type Rec = { purpose: string; name: string; strings: string[] };

function as(who: Account) {
  return async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${w.hk.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${who.key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
}

/** Registers `domain` for `who`, publishes its DKIM records in the test DNS and verifies it. */
async function registerAndVerify(who: Account, domain: string) {
  const made = await as(who)("POST", "/v1/domains", { domain });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  for (const r of made.body.records as Rec[]) if (r.purpose === "dkim") w.dns.records[r.name] = { TXT: [r.strings] };
  const verified = await as(who)("POST", `/v1/domains/${domain}/verify`);
  assert.equal(verified.status, 200, JSON.stringify(verified.body));
  assert.equal(verified.body.status, "active");
}

const mail = (from: string, extra: Record<string, unknown> = {}) => ({ from, to: "resident@ok.test", subject: "Notice", text: "hello", ...extra });

async function stored(accountId: string): Promise<number> {
  const [row] = await w.hk.service.db.sql`select count(*)::int as n from messages where account_id = ${accountId}`;
  return row?.n ?? 0;
}

before(async () => {
  w = await startWithMx();
  squatter = { accountId: w.hk.accountId, key: w.hk.key };
  owner = await w.hk.newAccount("city");
  third = await w.hk.newAccount("someone else");
  assert.equal((await as(squatter)("POST", "/v1/domains", { domain: "city.test" })).status, 201);
  await registerAndVerify(owner, "city.test");
  assert.equal((await as(squatter)("PUT", "/v1/source-ips", { ips: ["127.0.0.1"] })).status, 200);
});

after(async () => {
  await w?.stop();
});

describe("registration and verification", () => {
  test("an unverified registration did not block the real owner; once verified, others' registrations and verifications answer 409", async () => {
    const again = await as(third)("POST", "/v1/domains", { domain: "city.test" });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "conflict");
    assert.equal(again.body.error.field, "domain");
    assert.match(again.body.error.message, /verified by another Hikyaku account/);
    const late = await as(squatter)("POST", "/v1/domains/city.test/verify");
    assert.equal(late.status, 409, "the squatter's old registration cannot be verified now");
    assert.match(late.body.error.message, /verified by another Hikyaku account/);
    const view = await as(squatter)("GET", "/v1/domains/city.test");
    assert.equal(view.body.status, "pending", "nothing of the owner's shows in the squatter's account");
  });

  test("two accounts verifying one domain at the same moment: exactly one owns it", async () => {
    const a = await w.hk.newAccount("race a");
    const b = await w.hk.newAccount("race b");
    for (const who of [a, b]) {
      const made = await as(who)("POST", "/v1/domains", { domain: "race.test" });
      assert.equal(made.status, 201);
      for (const r of made.body.records as Rec[]) if (r.purpose === "dkim") w.dns.records[r.name] = { TXT: [r.strings] };
    }
    const callers = [a, b, a, b];
    const results = await Promise.all(callers.map((who) => as(who)("POST", "/v1/domains/race.test/verify")));
    assert.ok(
      results.every((r) => r.status === 200 || r.status === 409),
      JSON.stringify(results.map((r) => r.status)),
    );
    const active = new Set(results.flatMap((r, i) => (r.status === 200 && r.body.status === "active" ? [callers[i]?.accountId] : [])));
    assert.equal(active.size, 1, "one account's verification succeeded");
    const [row] = await w.hk.service.db.sql`
      select count(distinct d.account_id)::int as n from domains d join dkim_keys k on k.domain_id = d.id
      where d.domain = 'race.test' and k.verified_at is not null`;
    assert.equal(row?.n, 1, "one account verified race.test");
  });

  test("a subdomain that another account verifies for itself is that account's", async () => {
    await registerAndVerify(third, "ward.city.test");
    const byOwner = await as(owner)("POST", "/v1/messages", mail("notice@ward.city.test"));
    assert.equal(byOwner.status, 422, "the parent's owner is refused the subdomain verified by another");
    assert.equal((await as(third)("POST", "/v1/messages", mail("notice@ward.city.test"))).status, 202);
    assert.equal((await as(owner)("POST", "/v1/messages", mail("notice@other.city.test"))).status, 202, "other subdomains stay the owner's");
  });
});

describe("the HTTP door", () => {
  test("another account's From, return path and subdomains are refused with 422 sender_refused, nothing stored", async () => {
    const before = await stored(squatter.accountId);
    const cases: [Record<string, unknown>, string][] = [
      [mail("Evacuation <alerts@city.test>"), "from"],
      [mail("alerts@CITY.test"), "from"],
      [mail("alerts@mail.city.test"), "from"],
      [mail("alerts@squatter.test", { return_path: "bounces@city.test" }), "return_path"],
    ];
    for (const [body, field] of cases) {
      const res = await as(squatter)("POST", "/v1/messages", body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(res.body.error.code, "sender_refused");
      assert.equal(res.body.error.field, field);
      assert.match(res.body.error.message, /city\.test, which another Hikyaku account has verified as its own/);
    }
    const raw = "From: alerts@squatter.test, alerts@city.test\r\nTo: resident@ok.test\r\nSubject: x\r\n\r\nhello\r\n";
    const listed = await as(squatter)("POST", "/v1/messages", { raw, envelope: { from: "bounces@squatter.test", to: ["resident@ok.test"] } });
    assert.equal(listed.status, 422, "a second From address counts too");
    assert.equal(await stored(squatter.accountId), before, "nothing was stored");
    await eventually(async () => {
      const [ev] = await w.hk.service.db.sql`
        select count(*)::int as n from reception_events where account_id = ${squatter.accountId} and not accepted and reason like '%verified as its own%'`;
      return (ev?.n ?? 0) >= 5;
    }, "each refusal in the squatter's reception log");
  });

  test("the owner's mail goes out signed by its key; unverified domains stay open to everyone", async () => {
    const sent = await as(owner)("POST", "/v1/messages", mail("Evacuation <alerts@city.test>", { return_path: "bounces@city.test" }));
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const got = await eventually(async () => w.sink.messages.find((m) => m.raw.includes(sent.body.message_id)), "the owner's message at the sink");
    assert.match(got.raw.toString("latin1"), /^DKIM-Signature: [^\r]*d=city\.test;/m);
    assert.equal(got.envelope.from, "bounces@city.test");
    assert.equal((await as(squatter)("POST", "/v1/messages", mail("alerts@squatter.test"))).status, 202);
    assert.equal((await as(third)("POST", "/v1/messages", mail("alerts@unclaimed.test"))).status, 202);
  });
});

describe("the SMTP door", () => {
  test("MAIL FROM at another account's domain gets 553 5.7.1; a From header at it is refused at the end of DATA", async () => {
    const before = await stored(squatter.accountId);
    const c = await rawSmtp({ port: w.hk.service.smtp?.relayPort ?? 0 });
    assert.equal((await c.command("EHLO client.test")).code, 250);
    const refused = await c.command("MAIL FROM:<bounces@mail.city.test>");
    assert.match(
      refused.text,
      /^553 5\.7\.1 The envelope sender is at mail\.city\.test, which another Hikyaku account has verified as its own \(through city\.test\)/,
    );
    assert.equal((await c.command("MAIL FROM:<bounces@squatter.test>")).code, 250);
    assert.equal((await c.command("RCPT TO:<resident@ok.test>")).code, 250);
    assert.equal((await c.command("DATA")).code, 354);
    c.write("From: Evacuation <alerts@city.test>\r\nTo: resident@ok.test\r\nSubject: x\r\n\r\nhello\r\n.\r\n");
    assert.match((await c.reply()).text, /^553 5\.7\.1 The From address is at city\.test/);
    assert.equal((await c.command("MAIL FROM:<bounces@squatter.test>")).code, 250, "the session carries on");
    assert.equal((await c.command("RCPT TO:<resident@ok.test>")).code, 250);
    assert.equal((await c.command("DATA")).code, 354);
    c.write("From: alerts@squatter.test\r\nTo: resident@ok.test\r\nSubject: x\r\n\r\nhello\r\n.\r\n");
    assert.match((await c.reply()).text, /^250 /);
    c.close();
    assert.equal(await stored(squatter.accountId), before + 1, "only the squatter's own message was stored");
    const smtp = await eventually(async () => {
      const r = await as(squatter)("GET", "/v1/logs?type=reception&limit=50");
      const found = r.body.data.filter((e: any) => e.channel === "smtp" && !e.accepted && /verified as its own/.test(e.reason));
      return found.length >= 2 ? found : undefined;
    }, "both SMTP refusals in the reception log");
    assert.ok(smtp.every((e: any) => e.code === 553 && e.enhanced_code === "5.7.1"));
  });
});
