// How a recipient domain finds its destination policy and budget key: its own name or an
// alias, an MX group by host suffix, or `*` with one budget per MX group; and how the
// operator's overrides merge with the built-in values.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  BUILT_IN_POLICIES,
  DEFAULT_SETTINGS,
  listPolicies,
  mxGroup,
  type Overrides,
  resolvePolicy,
  SETTING_FIELDS,
} from "../src/delivery/destination-policy.ts";

const none: Overrides = new Map();

describe("the built-in table", () => {
  test("has a policy for every domain the issue names, and `*`", () => {
    const names = BUILT_IN_POLICIES.flatMap((p) => [p.domain, ...(p.aliases ?? [])]);
    for (const d of ["docomo.ne.jp", "ezweb.ne.jp", "au.com", "softbank.ne.jp", "i.softbank.jp", "ymobile.ne.jp", "rakuten.jp"])
      assert.ok(names.includes(d), d);
    for (const d of ["gmail.com", "yahoo.co.jp", "outlook.com", "hotmail.com", "icloud.com", "*"]) assert.ok(names.includes(d), d);
    assert.equal(new Set(names).size, names.length, "no name is in two policies");
  });

  test("every policy says where its numbers come from, and every number is in the API's ranges", () => {
    for (const p of BUILT_IN_POLICIES) {
      assert.ok(p.basis.length > 40, `${p.domain} has a basis`);
      assert.ok(p.max_connections >= 1 && p.max_connections <= 1000, p.domain);
      assert.ok(p.messages_per_minute === null || (p.messages_per_minute >= 1 && p.messages_per_minute <= 1_000_000), p.domain);
      assert.ok(p.recipients_per_transaction >= 1 && p.recipients_per_transaction <= 1000, p.domain);
      assert.ok(p.messages_per_connection >= 1 && p.messages_per_connection <= 100_000, p.domain);
      assert.ok(p.idle_close_seconds >= 1 && p.idle_close_seconds <= 3600, p.domain);
      for (const s of p.mx_suffixes) assert.match(s, /^\.[a-z0-9.-]+[a-z]$/, `${p.domain} suffix ${s}`);
    }
  });

  test("the carriers are shaped harder than `*`, and a docomo session stays under its 100 recipients", () => {
    for (const d of ["docomo.ne.jp", "au.com", "softbank.ne.jp", "i.softbank.jp", "ymobile.ne.jp", "rakuten.jp"]) {
      const p = resolvePolicy(d, [], none).policy;
      assert.ok(p.max_connections < DEFAULT_SETTINGS.max_connections, d);
      assert.notEqual(p.messages_per_minute, null, d);
    }
    const docomo = resolvePolicy("docomo.ne.jp", [], none).policy;
    assert.ok(docomo.recipients_per_transaction * docomo.messages_per_connection <= 100);
  });
});

test("the README's table shows the built-in numbers", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const table = /<!-- destination-policies:start -->\n([\s\S]*?)\n<!-- destination-policies:end -->/.exec(readme)?.[1] ?? "";
  const rows = table
    .split("\n")
    .slice(2)
    .map((l) =>
      l
        .split("|")
        .map((c) => c.trim())
        .slice(1, 10),
    );
  const cell = (v: number | null) => (v === null ? "no limit" : String(v));
  const expected = BUILT_IN_POLICIES.map((p) => [
    p.domain === "*" ? "`*`" : p.domain,
    (p.aliases ?? []).join(", "),
    p.mx_suffixes.join(", "),
    cell(p.max_connections),
    cell(p.messages_per_minute),
    cell(p.recipients_per_transaction),
    cell(p.messages_per_connection),
    cell(p.idle_close_seconds),
    p.tls,
  ]);
  assert.deepEqual(rows, expected, "update the README table from BUILT_IN_POLICIES");
});

describe("resolvePolicy", () => {
  test("a domain with a policy of its own gets it, keyed by its name, whatever its MX hosts", () => {
    const r = resolvePolicy("docomo.ne.jp", ["mx.elsewhere.example"], none);
    assert.equal(r.policy.domain, "docomo.ne.jp");
    assert.equal(r.key, "docomo.ne.jp");
    assert.equal(r.overridden, false);
    assert.equal(r.via, "domain");
  });

  test("an alias shares its policy's settings and budget", () => {
    const ezweb = resolvePolicy("ezweb.ne.jp", [], none);
    assert.equal(ezweb.key, "au.com");
    assert.equal(ezweb.via, "alias");
    assert.equal(resolvePolicy("hotmail.com", [], none).key, "outlook.com");
    assert.equal(resolvePolicy("googlemail.com", [], none).key, "gmail.com");
  });

  test("a domain whose MX host ends in a policy's suffix shares that policy and budget (Google Workspace)", () => {
    const r = resolvePolicy("shibuya-school.example", ["aspmx.l.google.com", "alt1.aspmx.l.google.com"], none);
    assert.equal(r.policy.domain, "gmail.com");
    assert.equal(r.key, "gmail.com");
    assert.equal(r.via, "mx_suffix");
    assert.equal(r.policy.tls, "required");
    assert.equal(resolvePolicy("other.example", ["aspmx2.googlemail.com"], none).key, "gmail.com");
    assert.equal(resolvePolicy("outlook.jp", ["outlook-jp.olc.protection.outlook.com"], none).key, "outlook.com");
  });

  test("a suffix matches on a label boundary only", () => {
    assert.equal(resolvePolicy("a.example", ["mx.notgoogle.com"], none).policy.domain, "*");
    assert.equal(resolvePolicy("a.example", ["evil-google.com"], none).policy.domain, "*");
  });

  test("Microsoft 365 tenants are not put in the outlook.com group", () => {
    const r = resolvePolicy("city.example", ["city-example.mail.protection.outlook.com"], none);
    assert.equal(r.policy.domain, "*");
    assert.equal(r.key, "*:mail.protection.outlook.com");
  });

  test("the first MX host that matches decides, and the longest suffix wins", () => {
    const overrides: Overrides = new Map([["wide.example", { mx_suffixes: [".protection.outlook.com"] }]]);
    assert.equal(resolvePolicy("x.example", ["mx.olc.protection.outlook.com"], overrides).key, "outlook.com");
    assert.equal(resolvePolicy("x.example", ["t.mail.protection.outlook.com"], overrides).key, "wide.example");
    assert.equal(resolvePolicy("x.example", ["mx.plain.example", "aspmx.l.google.com"], none).key, "gmail.com");
  });

  test("every other domain gets `*`, with one budget per MX group", () => {
    const a = resolvePolicy("a.example", ["mx1.hosting.example", "mx2.hosting.example"], none);
    const b = resolvePolicy("b.example", ["mx2.hosting.example"], none);
    const c = resolvePolicy("c.example", ["mail.c.example"], none);
    assert.equal(a.policy.domain, "*");
    assert.deepEqual([a.key, b.key, c.key], ["*:hosting.example", "*:hosting.example", "*:c.example"]);
    assert.equal(a.via, "default");
    assert.deepEqual(Object.fromEntries(SETTING_FIELDS.map((f) => [f, a.policy[f]])), DEFAULT_SETTINGS, "`*` holds the default settings");
    // No MX (implicit MX: the domain itself), an IP route.
    assert.equal(resolvePolicy("solo.example", [], none).key, "*:solo.example");
    assert.equal(resolvePolicy("routed.example", ["127.0.0.2"], none).key, "*:127.0.0.2");
  });

  test("case and trailing dots do not matter, in the domain or the MX hosts", () => {
    assert.equal(resolvePolicy("DoCoMo.NE.JP.", [], none).key, "docomo.ne.jp");
    assert.equal(resolvePolicy("Workspace.Example", ["ASPMX.L.GOOGLE.COM."], none).key, "gmail.com");
    assert.equal(resolvePolicy("a.example", ["MX1.Hosting.Example."], none).key, "*:hosting.example");
  });

  test("an override changes only the fields it sets; the rest keep the built-in values", () => {
    const overrides: Overrides = new Map([["docomo.ne.jp", { messages_per_minute: 30, tls: "required" as const }]]);
    const r = resolvePolicy("docomo.ne.jp", [], overrides);
    const built = resolvePolicy("docomo.ne.jp", [], none).policy;
    assert.equal(r.overridden, true);
    assert.equal(r.policy.messages_per_minute, 30);
    assert.equal(r.policy.tls, "required");
    assert.equal(r.policy.max_connections, built.max_connections);
    assert.deepEqual(r.policy.mx_suffixes, built.mx_suffixes);
    assert.equal(r.policy.basis, built.basis);
  });

  test("null in an override lifts the rate limit; mx_suffixes replace the built-in list", () => {
    const overrides: Overrides = new Map([["gmail.com", { messages_per_minute: null, mx_suffixes: [".google.com"] }]]);
    const r = resolvePolicy("gmail.com", [], overrides);
    assert.equal(r.policy.messages_per_minute, null);
    assert.deepEqual(r.policy.mx_suffixes, [".google.com"]);
    assert.equal(resolvePolicy("x.example", ["aspmx2.googlemail.com"], overrides).policy.domain, "*");
  });

  test("an alias finds its policy's override", () => {
    const overrides: Overrides = new Map([["au.com", { max_connections: 1 }]]);
    const r = resolvePolicy("ezweb.ne.jp", [], overrides);
    assert.equal(r.policy.max_connections, 1);
    assert.equal(r.overridden, true);
  });

  test("a domain the operator names gets its own policy and budget; fields it leaves out follow `*` in force", () => {
    const overrides: Overrides = new Map([
      ["*", { max_connections: 8 }],
      ["city.example", { messages_per_minute: 60, mx_suffixes: [".mx.city.example"] }],
    ]);
    const r = resolvePolicy("city.example", [], overrides);
    assert.equal(r.key, "city.example");
    assert.equal(r.policy.messages_per_minute, 60);
    assert.equal(r.policy.max_connections, 8);
    assert.equal(r.policy.recipients_per_transaction, DEFAULT_SETTINGS.recipients_per_transaction);
    assert.equal(resolvePolicy("ward.example", ["a.mx.city.example"], overrides).key, "city.example");
    const other = resolvePolicy("other.example", ["mx.other.example"], overrides);
    assert.equal(other.policy.max_connections, 8, "the `*` override applies to every other domain");
    assert.equal(other.overridden, true);
  });
});

describe("listPolicies", () => {
  test("lists every built-in policy once, the operator's own, and `*` last", () => {
    const overrides: Overrides = new Map([
      ["city.example", { max_connections: 2 }],
      ["gmail.com", { max_connections: 3 }],
    ]);
    const list = listPolicies(overrides);
    const domains = list.map((e) => e.policy.domain);
    assert.equal(domains.at(-1), "*");
    assert.equal(new Set(domains).size, domains.length);
    assert.equal(domains.length, BUILT_IN_POLICIES.length + 1);
    const city = list.find((e) => e.policy.domain === "city.example");
    assert.deepEqual([city?.builtIn, city?.overridden, city?.policy.max_connections], [false, true, 2]);
    const gmail = list.find((e) => e.policy.domain === "gmail.com");
    assert.deepEqual([gmail?.builtIn, gmail?.overridden, gmail?.policy.max_connections], [true, true, 3]);
  });
});

test("mxGroup drops the first label of a host name, and keeps short names and addresses", () => {
  assert.equal(mxGroup("mx1.example.net"), "example.net");
  assert.equal(mxGroup("example.net"), "example.net");
  assert.equal(mxGroup("192.0.2.1"), "192.0.2.1");
  assert.equal(mxGroup("2001:db8::1"), "2001:db8::1");
});
