// MTA-STS (RFC 8461) end to end: `_mta-sts` TXT records in a real DNS server, policies
// served over real HTTPS by a loopback server with certificates from a test CA
// (HIKYAKU_OUTBOUND_CA_FILE), and MX sinks whose certificates are valid, for another
// name, or untrusted. Enforce never sends to an MX outside the policy or without a valid
// certificate, and a cached policy outlives its TXT record; testing delivers and logs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { advanceClock, nowMs, resetClock } from "../src/clock.ts";
import { createResolver } from "../src/delivery/dns.ts";
import { MtaSts } from "../src/delivery/mta-sts.ts";
import { fetchStsPolicy } from "../src/delivery/mta-sts-fetch.ts";
import { mxAllowed, parseStsPolicy, parseStsRecord } from "../src/delivery/mta-sts-policy.ts";
import { setOverride } from "../src/delivery/policy-store.ts";
import { type DnsRecords, startDns, type TestDns } from "./helpers/dns-server.ts";
import { type PolicyServer, policyText, startPolicyServer } from "./helpers/mta-sts-server.ts";
import { arrivedAt, eventually, firstLogEvent, sendPlain, startTestService, type TestService } from "./helpers/service.ts";
import { freePort, type Sink, startSink } from "./helpers/sink.ts";
import { startTestCa, type TestCa, untrustedCert } from "./helpers/test-ca.ts";

let ca: TestCa;
let dns: TestDns;
let web: PolicyServer;
let hk: TestService;
/** Certificate from the test CA for every mx.<domain>.test name below. */
let good: Sink;
/** Certificate from the test CA, but for another name. */
let wrongName: Sink;
/** Self-signed certificate for the right names. */
let untrusted: Sink;
/** An MX no policy lists (where an attacker who rewrote the MX would point). */
let rogue: Sink;
/** A listed MX that offers no STARTTLS (or whose offer an attacker on the path stripped). */
let plain: Sink;

const DOMAINS = [
  "enforce",
  "mismatch",
  "wrongname",
  "untrusted",
  "stripped",
  "rotate",
  "testing",
  "none",
  "redirect",
  "status500",
  "html",
  "garbled",
  "huge",
  "badhttps",
  "notxt",
  "plaintext",
].map((d) => `${d}.test`);
const MX_NAMES = DOMAINS.map((d) => `mx.${d}`);

before(async () => {
  ca = await startTestCa();
  const port = await freePort("127.0.0.5");
  const [goodPair, wrongPair, selfSigned] = await Promise.all([ca.issue(MX_NAMES), ca.issue(["mx.elsewhere.test"]), untrustedCert(MX_NAMES)]);
  good = await startSink({ host: "127.0.0.5", port, tls: goodPair });
  wrongName = await startSink({ host: "127.0.0.6", port, tls: wrongPair });
  untrusted = await startSink({ host: "127.0.0.7", port, tls: selfSigned });
  rogue = await startSink({ host: "127.0.0.8", port, tls: goodPair });
  plain = await startSink({ host: "127.0.0.10", port, starttls: false });
  web = await startPolicyServer({
    host: "127.0.0.9",
    certFor: (name) => (name === "mta-sts.badhttps.test" ? untrustedCert([name]) : ca.issue([name])),
  });
  const mx = (domain: string, host: string, ip: string) => ({
    [domain]: { MX: [{ exchange: host, priority: 10 }] },
    [host]: { A: [ip] },
    [`mta-sts.${domain}`]: { A: [web.host] },
  });
  const txt = (domain: string, id: string) => ({ [`_mta-sts.${domain}`]: { TXT: [[`v=STSv1; id=${id};`]] } });
  const records: DnsRecords = {
    ...mx("enforce.test", "mx.enforce.test", good.host),
    ...txt("enforce.test", "e1"),
    ...mx("mismatch.test", "mx.rogue.test", rogue.host),
    ...txt("mismatch.test", "m1"),
    ...mx("wrongname.test", "mx.wrongname.test", wrongName.host),
    ...txt("wrongname.test", "w1"),
    ...mx("untrusted.test", "mx.untrusted.test", untrusted.host),
    ...txt("untrusted.test", "u1"),
    ...mx("stripped.test", "mx.stripped.test", good.host),
    ...txt("stripped.test", "s1"),
    ...mx("rotate.test", "mx.rotate.test", good.host),
    ...txt("rotate.test", "r1"),
    ...mx("testing.test", "mx.elsewhere.testing.test", untrusted.host),
    ...txt("testing.test", "t1"),
    ...mx("none.test", "mx.none.test", untrusted.host),
    ...txt("none.test", "n1"),
    ...mx("plaintext.test", "mx.plaintext.test", plain.host),
    ...txt("plaintext.test", "p1"),
  };
  for (const d of ["redirect", "status500", "html", "garbled", "huge", "badhttps"]) {
    Object.assign(records, mx(`${d}.test`, `mx.${d}.test`, untrusted.host), txt(`${d}.test`, "x1"));
  }
  Object.assign(records, mx("notxt.test", "mx.notxt.test", untrusted.host));
  dns = await startDns(records);
  const enforce = (d: string, mxList = [`mx.${d}`]) => web.answers.set(`mta-sts.${d}`, { body: policyText("enforce", mxList) });
  enforce("enforce.test");
  enforce("mismatch.test");
  enforce("wrongname.test", ["*.wrongname.test"]);
  enforce("untrusted.test");
  enforce("stripped.test");
  enforce("rotate.test");
  web.answers.set("mta-sts.testing.test", { body: policyText("testing", ["mx.testing.test"]) });
  web.answers.set("mta-sts.none.test", { body: policyText("none", []) });
  web.answers.set("mta-sts.redirect.test", { status: 301, headers: { location: "https://mta-sts.enforce.test/.well-known/mta-sts.txt" } });
  web.answers.set("mta-sts.status500.test", { status: 500, body: policyText("enforce", ["mx.status500.test"]) });
  web.answers.set("mta-sts.html.test", { headers: { "content-type": "text/html" }, body: policyText("enforce", ["mx.html.test"]) });
  web.answers.set("mta-sts.garbled.test", { body: "version: STSv1\nmode: enforce\nmx mx.garbled.test\nmax_age: 86400\n" });
  web.answers.set("mta-sts.huge.test", { body: policyText("enforce", ["mx.huge.test"]) + `${"x-pad: ".padEnd(100, "x")}\n`.repeat(700) });
  enforce("badhttps.test");
  enforce("plaintext.test");
  hk = await startTestService(
    {
      HIKYAKU_DNS_SERVERS: dns.address,
      HIKYAKU_MX_PORT: String(port),
      HIKYAKU_MTA_STS_PORT: String(web.port),
      HIKYAKU_OUTBOUND_CA_FILE: ca.file,
    },
    { seed: async (db) => Promise.all(DOMAINS.map((d) => setOverride(db, d, { tls: "mta-sts" }))).then(() => {}) },
  );
});

after(async () => {
  resetClock();
  await hk?.stop();
  for (const s of [good, wrongName, untrusted, rogue, plain]) await s?.close();
  await web?.close();
  await dns?.close();
});

const send = (to: string) => sendPlain(hk, to, "STS");
const firstEvent = (messageId: string) => firstLogEvent(hk, messageId);
const arrived = arrivedAt;
const fetches = (domain: string) => web.fetches.get(`mta-sts.${domain}`) ?? 0;

describe("mode enforce", () => {
  test("an MX the policy lists, with a certificate valid for its name, receives the message over TLS", async () => {
    const m = await send("a@enforce.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "delivered", ev.response);
    assert.equal(ev.tls, true);
    assert.equal(ev.mx_host, "mx.enforce.test");
    assert.equal(arrived(good, m.message_id)[0]?.secure, true);
    assert.equal(fetches("enforce.test"), 1);
  });

  test("the policy is cached for its max_age: a second message does not fetch it again", async () => {
    const before = fetches("enforce.test");
    assert.ok(before >= 1);
    const m = await send("b@enforce.test");
    assert.equal((await firstEvent(m.id)).event, "delivered");
    assert.equal(fetches("enforce.test"), before, "no second fetch");
    const [row] = await hk.service.db.sql`select policy_id, mode, mx, max_age from mta_sts_policies where domain = 'enforce.test'`;
    assert.deepEqual({ ...row }, { policy_id: "e1", mode: "enforce", mx: ["mx.enforce.test"], max_age: 86_400 });
  });

  test("an MX the policy does not list is never connected to: deferred with mta_sts_failed", async () => {
    const m = await send("c@mismatch.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "deferred");
    assert.equal(ev.service_code, "mta_sts_failed", ev.response);
    assert.equal(ev.enhanced_code, "4.7.5");
    assert.match(ev.response, /mx\.rogue\.test.*matches its MTA-STS policy \(mx: mx\.mismatch\.test\)/);
    assert.equal(rogue.connections, 0, "no connection to the unlisted MX");
  });

  test("a certificate for another name is refused before anything is sent (the *. pattern admits the host itself)", async () => {
    const m = await send("d@wrongname.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "deferred");
    assert.equal(ev.service_code, "mta_sts_failed", ev.response);
    assert.match(ev.response, /mx\.wrongname\.test.*(ALTNAME|altnames)/);
    assert.ok(wrongName.connections > 0, "the MX was tried");
    assert.equal(wrongName.messages.length, 0, "nothing was sent, neither in plain text nor over unverified TLS");
  });

  test("a listed MX that offers no STARTTLS gets nothing in plain text: deferred with mta_sts_failed", async () => {
    const m = await send("p@plaintext.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "deferred", ev.response);
    assert.equal(ev.service_code, "mta_sts_failed", ev.response);
    assert.equal(ev.enhanced_code, "4.7.5");
    assert.ok(plain.connections > 0, "the MX was tried");
    assert.equal(plain.messages.length, 0, "nothing was sent in plain text");
  });

  test("an untrusted (self-signed) certificate is refused before anything is sent", async () => {
    const m = await send("e@untrusted.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "deferred");
    assert.equal(ev.service_code, "mta_sts_failed", ev.response);
    assert.equal(arrived(untrusted, m.message_id).length, 0);
  });

  test("with the TXT record stripped, the fetch blocked and the MX rewritten, the cached policy still holds", async () => {
    const first = await send("f@stripped.test");
    assert.equal((await firstEvent(first.id)).event, "delivered");
    // The attacker: no TXT record, no policy server answer, the MX pointed at a host of theirs.
    delete dns.records["_mta-sts.stripped.test"];
    web.answers.delete("mta-sts.stripped.test");
    dns.records["stripped.test"] = { MX: [{ exchange: "mx.rogue.test", priority: 10 }] };
    dns.records["mx.rogue.test"] = { A: [rogue.host] };
    const m = await send("g@stripped.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "deferred", ev.response);
    assert.equal(ev.service_code, "mta_sts_failed");
    assert.equal(rogue.connections, 0);
    assert.equal(fetches("stripped.test"), 1, "nothing fetched: the record is gone, the cache decides");
  });

  test("a new TXT id fetches the policy again, and its new mode replaces the cached one", async () => {
    const m1 = await send("h@rotate.test");
    assert.equal((await firstEvent(m1.id)).event, "delivered");
    assert.equal(fetches("rotate.test"), 1);
    dns.records["_mta-sts.rotate.test"] = { TXT: [["v=STSv1; id=r2;"]] };
    web.answers.set("mta-sts.rotate.test", { body: policyText("testing", ["mx.rotate.test"], 3600) });
    const m2 = await send("i@rotate.test");
    assert.equal((await firstEvent(m2.id)).event, "delivered");
    assert.equal(fetches("rotate.test"), 2);
    const [row] = await hk.service.db.sql`select policy_id, mode from mta_sts_policies where domain = 'rotate.test'`;
    assert.deepEqual({ ...row }, { policy_id: "r2", mode: "testing" });
  });
});

describe("mode testing, none, and no policy", () => {
  test("testing: delivered as opportunistic TLS, and the log event says what enforce would have refused", async () => {
    const m = await send("j@testing.test");
    const ev = await firstEvent(m.id);
    assert.equal(ev.event, "delivered", ev.response);
    assert.equal(ev.tls, true);
    assert.match(ev.tls_detail, /^MTA-STS testing policy: enforce would refuse: /);
    assert.match(ev.tls_detail, /mx\.elsewhere\.testing\.test is not in the policy's mx/);
    assert.match(ev.tls_detail, /certificate not valid for mx\.elsewhere\.testing\.test/);
    assert.equal(arrived(untrusted, m.message_id).length, 1);
  });

  test("none, and a domain without a TXT record: opportunistic, nothing logged about MTA-STS", async () => {
    for (const to of ["k@none.test", "l@notxt.test"]) {
      const m = await send(to);
      const ev = await firstEvent(m.id);
      assert.equal(ev.event, "delivered", `${to}: ${ev.response}`);
      assert.equal(ev.tls_detail, null, to);
    }
    assert.equal(fetches("notxt.test"), 0);
  });
});

describe("a policy fetch that fails, with no cached policy, means no policy (RFC 8461 §3.3, §5)", () => {
  const cases: [string, RegExp][] = [
    ["redirect", /301 \(a redirect; not followed\)/],
    ["status500", /answered 500/],
    ["html", /content-type "text\/html" is not text\/plain/],
    ["garbled", /not a "key: value" line/],
    ["huge", /larger than 65536 bytes/],
    ["badhttps", /mta-sts\.badhttps\.test: .*(self-signed|SELF_SIGNED|unable to verify)/i],
  ];
  for (const [name, why] of cases) {
    test(`${name}: delivered as opportunistic, the failed fetch in the log`, async () => {
      const m = await send(`m@${name}.test`);
      const ev = await firstEvent(m.id);
      assert.equal(ev.event, "delivered", ev.response);
      assert.match(ev.tls_detail, /^MTA-STS policy fetch failed: /);
      assert.match(ev.tls_detail, why);
      const [row] = await hk.service.db.sql`select 1 from mta_sts_policies where domain = ${`${name}.test`}`;
      assert.equal(row, undefined, "nothing cached");
    });
  }
  test("the redirect was not followed", () => {
    assert.equal(fetches("enforce.test") > 0, true);
    assert.equal(fetches("redirect.test"), 1);
  });
});

describe("the cache across processes and time", () => {
  test("another process finds the cached policy without fetching; once max_age passes it fetches again", async () => {
    const resolver = createResolver([dns.address]);
    const sts = new MtaSts({ db: hk.service.db, resolver, allowPrivate: true, ca: [ca.cert], port: web.port, timeoutMs: 5000 });
    const before = fetches("enforce.test");
    const inForce = await sts.policyFor("enforce.test");
    assert.equal(inForce.policy?.mode, "enforce");
    assert.equal(fetches("enforce.test"), before, "read from mta_sts_policies, not fetched");
    try {
      advanceClock(86_401_000);
      const again = await new MtaSts({ db: hk.service.db, resolver, allowPrivate: true, ca: [ca.cert], port: web.port, timeoutMs: 5000 }).policyFor(
        "enforce.test",
      );
      assert.equal(again.policy?.mode, "enforce");
      assert.equal(fetches("enforce.test"), before + 1, "expired: fetched again");
    } finally {
      resetClock();
    }
  });

  test("a cached policy is refreshed in the background before it expires (RFC 8461 §10.2), and kept when that fetch fails", async () => {
    const resolver = createResolver([dns.address]);
    const sts = new MtaSts({ db: hk.service.db, resolver, allowPrivate: true, ca: [ca.cert], port: web.port, timeoutMs: 5000 });
    await sts.policyFor("enforce.test");
    const before = fetches("enforce.test");
    const expiry = async () =>
      (await hk.service.db.sql<{ e: Date }[]>`select expires_at as e from mta_sts_policies where domain = 'enforce.test'`)[0]?.e.getTime() ?? 0;
    const first = await expiry();
    try {
      // A tenth of its max_age left: still in force, answered from the cache at once…
      advanceClock(first - 8_640_000 - nowMs());
      const inForce = await sts.policyFor("enforce.test");
      assert.equal(inForce.policy?.mode, "enforce");
      // …and fetched again meanwhile, pushing the expiry out by a whole max_age.
      await eventually(async () => (await expiry()) > first, "the cached policy refreshed before its expiry");
      assert.equal(fetches("enforce.test"), before + 1);
      // The refresh fails next time: the cached policy stays in force.
      const saved = web.answers.get("mta-sts.enforce.test");
      web.answers.set("mta-sts.enforce.test", { status: 500, body: "down" });
      try {
        advanceClock((await expiry()) - 8_640_000 - nowMs());
        const kept = await new MtaSts({ db: hk.service.db, resolver, allowPrivate: true, ca: [ca.cert], port: web.port, timeoutMs: 5000 }).policyFor(
          "enforce.test",
        );
        assert.equal(kept.policy?.mode, "enforce");
        await eventually(async () => fetches("enforce.test") === before + 2, "the second refresh tried");
        const still = await sts.policyFor("enforce.test");
        assert.equal(still.policy?.mode, "enforce", "a failed refresh keeps the cached policy");
      } finally {
        if (saved) web.answers.set("mta-sts.enforce.test", saved);
      }
    } finally {
      resetClock();
    }
  });

  test("the policy host is resolved through the service's resolver and internal addresses are refused", async () => {
    const resolver = createResolver([dns.address]);
    const before = fetches("enforce.test");
    const r = await fetchStsPolicy("enforce.test", { resolver, allowPrivate: false, ca: [ca.cert], port: web.port, timeoutMs: 5000 });
    assert.equal(r.ok, false);
    assert.match(r.ok ? "" : r.error, /internal addresses/);
    assert.equal(fetches("enforce.test"), before, "no request reached the server");
    const unknown = await fetchStsPolicy("nowhere.test", { resolver, allowPrivate: true, ca: [ca.cert], port: web.port, timeoutMs: 5000 });
    assert.equal(unknown.ok, false, "a name only the system resolver might know is not found");
  });
});

describe("parsing (RFC 8461 §3.1, §3.2, §4.1)", () => {
  test("TXT records", () => {
    assert.equal(parseStsRecord([["v=STSv1; id=20160831085700Z;"]]), "20160831085700Z");
    assert.equal(parseStsRecord([["v=STSv1; id=ab", "c;"]]), "abc", "strings are joined without spaces");
    assert.equal(parseStsRecord([["v=spf1 -all"], ["v=STSv1; id=x1"]]), "x1", "other records are ignored");
    assert.equal(parseStsRecord([["v=STSv1; id=a"], ["v=STSv1; id=b"]]), undefined, "two STS records: none");
    assert.equal(parseStsRecord([["v=STSv1; id=has-dash"]]), undefined);
    assert.equal(parseStsRecord([[`v=STSv1; id=${"a".repeat(33)}`]]), undefined);
    assert.equal(parseStsRecord([["v=STSv1;"]]), undefined, "no id");
    assert.equal(parseStsRecord([["v=STSv2; id=a"]]), undefined);
  });

  test("policy files", () => {
    const ok = parseStsPolicy("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\nfuture: x\r\n");
    assert.deepEqual(ok, { ok: true, policy: { mode: "enforce", mx: ["mail.example.com", "*.example.net"], maxAge: 604800 } });
    const capped = parseStsPolicy("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 999999999\n");
    assert.equal(capped.ok && capped.policy.maxAge, 31_557_600);
    assert.equal(parseStsPolicy("version: STSv1\nmode: none\nmax_age: 60\n").ok, true, "none needs no mx");
    for (const bad of [
      "mode: enforce\nmx: a.example\nmax_age: 60\n",
      "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 60\n",
      "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 60\n",
      "version: STSv1\nmode: enforce\nmax_age: 60\n",
      "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
      "version: STSv1\nmode: enforce\nmx: a.example\n",
      "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 60\n",
      "<html>version: STSv1</html>",
    ]) {
      assert.equal(parseStsPolicy(bad).ok, false, JSON.stringify(bad));
    }
  });

  test("mx patterns", () => {
    const p = { mode: "enforce" as const, mx: ["mail.example.com", "*.example.net"], maxAge: 60 };
    assert.equal(mxAllowed(p, "mail.example.com"), true);
    assert.equal(mxAllowed(p, "MAIL.example.com."), true);
    assert.equal(mxAllowed(p, "mx1.example.net"), true);
    assert.equal(mxAllowed(p, "example.net"), false, "the wildcard needs a label");
    assert.equal(mxAllowed(p, "a.b.example.net"), false, "the wildcard covers one label only");
    assert.equal(mxAllowed(p, "evil-example.com"), false);
  });
});
