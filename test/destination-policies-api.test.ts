// The destination-policy admin API against a running Hikyaku: list, look up, override,
// remove; each bad field answered 422 naming it; the operator token required; and a
// PUT reaching the policy store that the delivery path reads.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { policyView } from "../src/api/routes/destination-policies-schema.ts";
import { BUILT_IN_POLICIES, DEFAULT_SETTINGS, type DestinationPolicy, resolvePolicy, SETTING_FIELDS } from "../src/delivery/destination-policy.ts";
import { PolicyStore } from "../src/delivery/policy-store.ts";
import { eventually, startTestService, type TestService } from "./helpers/service.ts";

const ADMIN = { authorization: "Bearer test-admin-token-0123456789" };
const PATH = "/v1/admin/destination-policies";
let hk: TestService;

before(async () => {
  hk = await startTestService();
});

after(async () => {
  await hk?.stop();
});

const admin = (method: string, path: string, body?: unknown) => hk.api(method, path, body, ADMIN);

describe("GET /v1/admin/destination-policies", () => {
  test("lists every built-in policy with its settings, source, basis and MX suffixes, and `*` last", async () => {
    const r = await admin("GET", PATH);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const data = r.body.data as any[];
    assert.deepEqual(
      data.map((p) => p.domain),
      BUILT_IN_POLICIES.map((p) => p.domain),
    );
    assert.equal(data.at(-1).domain, "*");
    const gmail = data.find((p) => p.domain === "gmail.com");
    assert.equal(gmail.source, "built-in");
    assert.equal(gmail.override, null);
    assert.deepEqual(gmail.mx_suffixes, [".google.com", ".googlemail.com"]);
    assert.deepEqual(gmail.aliases, ["googlemail.com"]);
    assert.equal(gmail.settings.tls, "required");
    assert.match(gmail.basis, /KumoMTA/);
    assert.deepEqual(data.at(-1).settings, DEFAULT_SETTINGS);
    assert.deepEqual(gmail.live, []);
  });

  test("needs the operator token: none, or an account's key, is 401", async () => {
    assert.equal((await hk.api("GET", PATH, undefined, { authorization: "" })).status, 401);
    const r = await hk.api("GET", PATH);
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, "unauthorized");
    for (const [method, body] of [
      ["PUT", { max_connections: 1 }],
      ["DELETE", undefined],
      ["GET", undefined],
    ] as const) {
      assert.equal((await hk.api(method, `${PATH}/docomo.ne.jp`, body)).status, 401, method);
    }
    assert.equal((await admin("GET", `${PATH}/docomo.ne.jp`)).body.policy.source, "built-in", "the refused PUT stored nothing");
  });
});

describe("PUT, GET and DELETE /v1/admin/destination-policies/{domain}", () => {
  test("a PUT overrides only the fields it gives and answers the policy now in force; GET and the list show it", async () => {
    const put = await admin("PUT", `${PATH}/docomo.ne.jp`, { messages_per_minute: 60, tls: "required" });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual([put.body.domain, put.body.via, put.body.key], ["docomo.ne.jp", "domain", "docomo.ne.jp"]);
    const built = resolvePolicy("docomo.ne.jp", [], new Map()).policy;
    assert.deepEqual(put.body.policy.settings, { ...pick(built), messages_per_minute: 60, tls: "required" });
    assert.equal(put.body.policy.source, "built-in+override");
    assert.deepEqual(put.body.policy.override, { messages_per_minute: 60, tls: "required" });

    const get = await admin("GET", `${PATH}/docomo.ne.jp`);
    assert.deepEqual(get.body, put.body);
    const listed = (await admin("GET", PATH)).body.data.find((p: any) => p.domain === "docomo.ne.jp");
    assert.deepEqual(listed, put.body.policy);

    // A second PUT replaces the first: the field it leaves out goes back to the built-in value.
    const again = await admin("PUT", `${PATH}/docomo.ne.jp`, { max_connections: 1 });
    assert.deepEqual(again.body.policy.settings, { ...pick(built), max_connections: 1 });
    assert.equal((await admin("DELETE", `${PATH}/docomo.ne.jp`)).status, 200);
  });

  test("null lifts a rate limit; the answer says so", async () => {
    const r = await admin("PUT", `${PATH}/yahoo.co.jp`, { messages_per_minute: null });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.policy.settings.messages_per_minute, null);
    assert.deepEqual(r.body.policy.override, { messages_per_minute: null });
    await admin("DELETE", `${PATH}/yahoo.co.jp`);
  });

  test("a domain of the operator's own gets a policy and budget of its own; its fields left out follow `*`", async () => {
    assert.equal((await admin("PUT", `${PATH}/*`, { max_connections: 8 })).status, 200);
    const r = await admin("PUT", `${PATH}/City.Example.`, { messages_per_minute: 30, mx_suffixes: ["MX.City.Example"] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.domain, "city.example", "lower-cased, without the trailing dot");
    assert.equal(r.body.policy.source, "override");
    assert.equal(r.body.policy.settings.max_connections, 8);
    assert.deepEqual(r.body.policy.mx_suffixes, [".mx.city.example"]);
    const ward = await admin("GET", `${PATH}/ward.example?mx=${encodeURIComponent("a.mx.city.example,b.mx.city.example")}`);
    assert.deepEqual([ward.body.via, ward.body.key], ["mx_suffix", "city.example"]);
    const list = (await admin("GET", PATH)).body.data.map((p: any) => p.domain);
    assert.ok(list.includes("city.example"));
    assert.equal(list.at(-1), "*");

    const del = await admin("DELETE", `${PATH}/city.example`);
    assert.equal(del.status, 200);
    assert.deepEqual([del.body.via, del.body.key, del.body.policy.domain], ["default", "*:city.example", "*"]);
    assert.equal(del.body.policy.settings.max_connections, 8, "back to `*`, which is still overridden");
    const star = await admin("DELETE", `${PATH}/*`);
    assert.deepEqual([star.status, star.body.policy.source, star.body.policy.settings.max_connections], [200, "built-in", 16]);
  });

  test("PUTs at the same moment that claim one MX suffix for different domains: exactly one gets it", async () => {
    const domains = Array.from({ length: 6 }, (_, i) => `claim${i}.example`);
    try {
      const answers = await Promise.all(domains.map((d) => admin("PUT", `${PATH}/${d}`, { mx_suffixes: [".shared-mx.example"] })));
      const won = answers.filter((r) => r.status === 200);
      assert.equal(won.length, 1, answers.map((r) => `${r.status} ${JSON.stringify(r.body).slice(0, 160)}`).join("\n"));
      for (const r of answers.filter((a) => a.status !== 200)) {
        assert.equal(r.status, 422);
        assert.equal(r.body.error.field, "mx_suffixes[0]");
      }
      const owners = (await admin("GET", PATH)).body.data.filter((p: any) => p.mx_suffixes.includes(".shared-mx.example"));
      assert.equal(owners.length, 1, "one policy groups the suffix");
    } finally {
      for (const d of domains) await admin("DELETE", `${PATH}/${d}`);
    }
  });

  test("a built-in policy does not get back a suffix another policy took meanwhile: a PUT without mx_suffixes, and a DELETE, are 422", async () => {
    try {
      assert.equal((await admin("PUT", `${PATH}/gmail.com`, { mx_suffixes: [".googlemail.com"] })).status, 200);
      assert.equal((await admin("PUT", `${PATH}/corp-mail.example`, { mx_suffixes: [".google.com"] })).status, 200);
      for (const [method, body] of [
        ["PUT", { max_connections: 3 }],
        ["DELETE", undefined],
      ] as const) {
        const r = await admin(method, `${PATH}/gmail.com`, body);
        assert.equal(r.status, 422, `${method}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error.field, "mx_suffixes");
        assert.match(r.body.error.message, /\.google\.com.*corp-mail\.example/);
      }
      const gmail = (await admin("GET", `${PATH}/gmail.com`)).body.policy;
      assert.deepEqual([gmail.mx_suffixes, gmail.settings.max_connections === 3], [[".googlemail.com"], false], "the refused PUT stored nothing");
      const owners = (await admin("GET", PATH)).body.data.filter((p: any) => p.mx_suffixes.includes(".google.com"));
      assert.deepEqual(
        owners.map((p: any) => p.domain),
        ["corp-mail.example"],
      );
    } finally {
      await admin("DELETE", `${PATH}/corp-mail.example`);
      await admin("DELETE", `${PATH}/gmail.com`);
    }
  });

  test("an IDN path is stored as its A-label", async () => {
    const r = await admin("PUT", `${PATH}/${encodeURIComponent("例え.JP")}`, { max_connections: 2 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.domain, "xn--r8jz45g.jp");
    assert.equal((await admin("GET", `${PATH}/xn--r8jz45g.jp`)).body.policy.settings.max_connections, 2);
    assert.equal((await admin("DELETE", `${PATH}/xn--r8jz45g.jp`)).status, 200);
  });

  test("GET answers for any domain: an alias, an MX group, or `*` with its MX group's budget", async () => {
    const alias = await admin("GET", `${PATH}/EZweb.ne.jp`);
    assert.deepEqual([alias.body.domain, alias.body.via, alias.body.key, alias.body.policy.domain], ["ezweb.ne.jp", "alias", "au.com", "au.com"]);
    const workspace = await admin("GET", `${PATH}/school.example?mx=aspmx.l.google.com,alt1.aspmx.l.google.com`);
    assert.deepEqual([workspace.body.via, workspace.body.key], ["mx_suffix", "gmail.com"]);
    const other = await admin("GET", `${PATH}/shop.example?mx=mx1.hosting.example`);
    assert.deepEqual([other.body.via, other.body.key, other.body.policy.domain], ["default", "*:hosting.example", "*"]);
    const star = await admin("GET", `${PATH}/*`);
    assert.deepEqual([star.body.via, star.body.key], ["default", "*"]);
    const bad = await admin("GET", `${PATH}/shop.example?mx=mx1.hosting.example,bad_host!`);
    assert.deepEqual([bad.status, bad.body.error.field], [422, "mx"]);
  });

  test("DELETE without an override is 404; PUT and DELETE of an alias name the policy to change instead", async () => {
    const none = await admin("DELETE", `${PATH}/gmail.com`);
    assert.deepEqual([none.status, none.body.error.code, none.body.error.field], [404, "not_found", "domain"]);
    for (const method of ["PUT", "DELETE"]) {
      const r = await admin(method, `${PATH}/hotmail.com`, method === "PUT" ? { max_connections: 1 } : undefined);
      assert.equal(r.status, 422, method);
      assert.equal(r.body.error.field, "domain");
      assert.match(r.body.error.message, /outlook\.com/);
    }
  });

  test("each bad value answers 422 naming its field, and stores nothing", async () => {
    const cases: [unknown, string][] = [
      [{ max_connections: 0 }, "max_connections"],
      [{ max_connections: 1001 }, "max_connections"],
      [{ max_connections: 1.5 }, "max_connections"],
      [{ max_connections: "4" }, "max_connections"],
      [{ messages_per_minute: 0 }, "messages_per_minute"],
      [{ messages_per_minute: 1_000_001 }, "messages_per_minute"],
      [{ recipients_per_transaction: 0 }, "recipients_per_transaction"],
      [{ recipients_per_transaction: 1001 }, "recipients_per_transaction"],
      [{ messages_per_connection: 0 }, "messages_per_connection"],
      [{ messages_per_connection: 100_001 }, "messages_per_connection"],
      [{ idle_close_seconds: 0 }, "idle_close_seconds"],
      [{ idle_close_seconds: 3601 }, "idle_close_seconds"],
      [{ tls: "always" }, "tls"],
      [{ tls: null }, "tls"],
      [{ mx_suffixes: ".google.com" }, "mx_suffixes"],
      [{ mx_suffixes: [".example.net", "not a host"] }, "mx_suffixes[1]"],
      [{ mx_suffixes: [".com"] }, "mx_suffixes[0]"],
      [{ mx_suffixes: [".google.com"] }, "mx_suffixes[0]"],
      [{ max_conections: 2 }, "max_conections"],
    ];
    for (const [body, field] of cases) {
      const r = await admin("PUT", `${PATH}/docomo.ne.jp`, body);
      assert.equal(r.status, 422, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "validation_error");
      assert.equal(r.body.error.field, field, JSON.stringify(body));
    }
    const star = await admin("PUT", `${PATH}/*`, { mx_suffixes: [".example.net"] });
    assert.deepEqual([star.status, star.body.error.field], [422, "mx_suffixes"]);
    for (const domain of ["not_a_domain", "nodots", "a..b.example", "-x.example", "192.0.2.1", "**"]) {
      const r = await admin("PUT", `${PATH}/${encodeURIComponent(domain)}`, { max_connections: 2 });
      assert.deepEqual([r.status, r.body.error?.field], [422, "domain"], domain);
    }
    const [{ n }] = (await hk.service.db.sql`select count(*)::int as n from destination_policies`) as unknown as [{ n: number }];
    assert.equal(n, 0);
  });
});

test("a PUT reaches the policy store the delivery path reads, and a DELETE takes it back", async () => {
  const store = await PolicyStore.start(hk.service.db, 50);
  try {
    assert.equal(store.resolve("softbank.ne.jp", []).policy.max_connections, 3);
    await admin("PUT", `${PATH}/softbank.ne.jp`, { max_connections: 1, messages_per_minute: 20 });
    await eventually(async () => store.resolve("softbank.ne.jp", []).policy.max_connections === 1, "the store to follow the PUT");
    const r = store.resolve("SoftBank.ne.jp.", ["mx1.softbank.ne.jp"]);
    assert.deepEqual([r.overridden, r.key, r.policy.messages_per_minute, r.policy.recipients_per_transaction], [true, "softbank.ne.jp", 20, 10]);
    await admin("DELETE", `${PATH}/softbank.ne.jp`);
    await store.refresh();
    assert.equal(store.resolve("softbank.ne.jp", []).overridden, false);
  } finally {
    await store.stop();
  }
});

test("live states are shown under their policy: a named one by its key, `*` one per MX group", () => {
  const state = (key: string) => ({
    key,
    effective_messages_per_minute: 90,
    sent_last_minute: 12,
    rate_factor: 0.5,
    backoff_until: new Date("2026-12-01T10:15:00Z"),
    suspended_until: null,
    connections_in_use: 2,
  });
  const states = [state("docomo.ne.jp"), state("*:hosting.example"), state("*:c.example"), state("gone.example")];
  const docomo = resolvePolicy("docomo.ne.jp", [], new Map()).policy;
  const view = policyView(docomo, true, new Map(), states);
  assert.deepEqual(view.live, [{ ...state("docomo.ne.jp"), backoff_until: "2026-12-01T10:15:00.000Z" }]);
  const star = policyView(resolvePolicy("x.example", [], new Map()).policy, true, new Map(), states);
  assert.deepEqual(
    star.live.map((s) => s.key),
    ["*:hosting.example", "*:c.example"],
  );
});

const pick = (p: DestinationPolicy) => Object.fromEntries(SETTING_FIELDS.map((k) => [k, p[k]]));
