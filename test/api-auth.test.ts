// Authentication and tenant isolation: every /v1 route needs a live API key, and a
// missing, malformed, unknown or revoked key all get the very same 401; revocation
// works at once; an account never sees another's message; the admin API needs
// HIKYAKU_ADMIN_TOKEN and does not exist without it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createApp } from "../src/api/app.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

let hk: TestService;
const ADMIN = "test-admin-token-0123456789";

before(async () => {
  // The routes send to a closed port: nothing here waits for delivery.
  hk = await startTestService({ HIKYAKU_ADMIN_TOKEN: ADMIN, HIKYAKU_ROUTES: "*=127.0.0.1:9" });
});

after(async () => {
  await hk?.stop();
});

async function call(method: string, path: string, auth: string | undefined, body?: unknown) {
  const headers: Record<string, string> = {};
  if (auth !== undefined) headers.authorization = auth;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(hk.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, requestId: res.headers.get("x-request-id") };
}

const message = { from: "orders@shop.test", to: "alice@example.test", subject: "Hi", text: "Hello" };

async function send(key: string) {
  const res = await call("POST", "/v1/messages", `Bearer ${key}`, message);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body as { id: string };
}

/** 404 (no such message) when the key works, 401 when it does not: /v1/logs is not needed. */
async function probe(key: string, scheme = "Bearer") {
  return (await call("GET", "/v1/messages/01936c2e-0000-7000-8000-000000000000", `${scheme} ${key}`)).status;
}

/** The 401 body without its request_id, which differs on every request. */
function shape(res: { status: number; body: any }): { error: Record<string, unknown> } {
  assert.equal(res.status, 401, JSON.stringify(res.body));
  assert.match(res.body.error.request_id, /^req_/);
  return { ...res.body, error: { ...res.body.error, request_id: "-" } };
}

describe("API keys", () => {
  test("missing, malformed, unknown and revoked keys all get the same 401", async () => {
    const created = await call("POST", "/v1/api-keys", `Bearer ${hk.key}`, { name: "to revoke" });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await call("DELETE", `/v1/api-keys/${created.body.id}`, `Bearer ${hk.key}`)).status, 204);

    const variants: (string | undefined)[] = [
      undefined,
      "",
      "Bearer",
      "Bearer ",
      `Basic ${Buffer.from(`x:${hk.key}`).toString("base64")}`,
      `Bearer ${hk.key} extra`,
      `Token ${hk.key}`,
      `Bearer ${hk.key}x`,
      "Bearer hk_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      `Bearer ${"k".repeat(5000)}`,
      `Bearer ${ADMIN}`,
      `Bearer ${created.body.key}`,
    ];
    const routes: [string, string, unknown?][] = [
      ["POST", "/v1/messages", message],
      ["GET", "/v1/messages/01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e"],
      ["GET", "/v1/logs"],
      ["POST", "/v1/api-keys", {}],
      ["DELETE", `/v1/api-keys/${created.body.id}`],
      ["GET", "/v1/no-such-route"],
    ];
    const first = shape(await call("GET", "/v1/logs", undefined));
    assert.equal(first.error.code, "unauthorized");
    assert.equal(first.error.field, undefined);
    for (const auth of variants) {
      for (const [method, path, body] of routes) {
        const res = await call(method, path, auth, body);
        assert.deepEqual(shape(res), first, `${method} ${path} with ${String(auth).slice(0, 40)}`);
        assert.equal(res.requestId, res.body.error.request_id);
      }
    }
    const [row] = await hk.service.db.sql`select count(*)::int as n from messages`;
    assert.equal(row?.n, 0, "no unauthenticated request stored a message");
  });

  test("the scheme is case-insensitive and a good key works on every route", async () => {
    assert.equal(await probe(hk.key, "bearer"), 404);
    assert.equal(await probe(hk.key, "BEARER"), 404);
    const { id } = await send(hk.key);
    assert.equal((await call("GET", `/v1/messages/${id}`, `Bearer ${hk.key}`)).status, 200);
  });

  test("a revoked key stops working at once; the other keys keep working", async () => {
    const second = await call("POST", "/v1/api-keys", `Bearer ${hk.key}`, { name: "rotation" });
    assert.equal(second.status, 201);
    assert.match(second.body.key, /^hk_/);
    assert.ok(second.body.key.startsWith(second.body.prefix));
    await send(second.body.key); // used, so any cache in front of the key table holds it
    assert.equal(await probe(second.body.key), 404);

    const revoked = await call("DELETE", `/v1/api-keys/${second.body.id}`, `Bearer ${hk.key}`);
    assert.equal(revoked.status, 204);
    assert.equal(revoked.body, null);
    assert.equal(await probe(second.body.key), 401);
    assert.equal((await call("POST", "/v1/messages", `Bearer ${second.body.key}`, message)).status, 401);
    assert.equal(await probe(hk.key), 404, "the other key still works");

    const again = await call("DELETE", `/v1/api-keys/${second.body.id}`, `Bearer ${hk.key}`);
    assert.equal(again.status, 404, "revoking twice: no active key");
    assert.equal(again.body.error.code, "not_found");
  });

  test("a key may revoke itself", async () => {
    const own = await call("POST", "/v1/api-keys", `Bearer ${hk.key}`);
    assert.equal(own.status, 201, JSON.stringify(own.body));
    assert.equal((await call("DELETE", `/v1/api-keys/${own.body.id}`, `Bearer ${own.body.key}`)).status, 204);
    assert.equal(await probe(own.body.key), 401);
  });

  test("the stored key is a hash, never the key", async () => {
    const created = await call("POST", "/v1/api-keys", `Bearer ${hk.key}`, { name: "hashed" });
    const rows = await hk.service.db.sql`select * from api_keys where id = ${created.body.id}`;
    assert.equal(rows.length, 1);
    assert.ok(!JSON.stringify(rows[0]).includes(created.body.key.slice(12)), "the secret part is not stored");
  });
});

describe("tenant isolation", () => {
  test("account A cannot read or revoke anything of account B", async () => {
    const b = await hk.newAccount("B");
    const theirs = await send(b.key);
    const unknown = "01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e";

    const cross = await call("GET", `/v1/messages/${theirs.id}`, `Bearer ${hk.key}`);
    const none = await call("GET", `/v1/messages/${unknown}`, `Bearer ${hk.key}`);
    assert.equal(cross.status, 404);
    assert.equal(none.status, 404);
    const same = (r: typeof cross, id: string) => ({ ...r.body.error, request_id: "-", message: r.body.error.message.replace(id, "ID") });
    assert.deepEqual(same(cross, theirs.id), same(none, unknown), "another account's message looks exactly like an unknown one");
    assert.equal((await call("GET", `/v1/messages/${theirs.id}`, `Bearer ${b.key}`)).status, 200, "B can read its own");

    const [bKey] = await hk.service.db.sql`select id from api_keys where account_id = ${b.accountId}`;
    const bKeyId = bKey?.id as string;
    const revoke = await call("DELETE", `/v1/api-keys/${bKeyId}`, `Bearer ${hk.key}`);
    assert.equal(revoke.status, 404);
    assert.equal(revoke.body.error.code, "not_found");
    assert.equal(await probe(b.key), 404, "B's key still works");
    assert.equal((await call("DELETE", "/v1/api-keys/not-a-uuid", `Bearer ${hk.key}`)).status, 404);
  });
});

describe("admin API", () => {
  test("the operator token creates an account whose key works", async () => {
    const res = await call("POST", "/v1/admin/accounts", `Bearer ${ADMIN}`, { name: "Shibuya City" });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.account.name, "Shibuya City");
    assert.match(res.body.account.id, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(res.body.account.created_at)));
    assert.match(res.body.api_key.key, /^hk_/);
    const { id } = await send(res.body.api_key.key);
    const [row] = await hk.service.db.sql`select account_id from messages where id = ${id}`;
    assert.equal(row?.account_id, res.body.account.id, "the message belongs to the new account");
  });

  test("a wrong, missing or API-key token gets 401 and creates nothing", async () => {
    const count = async () => (await hk.service.db.sql`select count(*)::int as n from accounts`)[0]?.n as number;
    const before = await count();
    for (const auth of [
      undefined,
      "Bearer wrong-token-0123456789",
      `Bearer ${ADMIN}x`,
      `Bearer ${ADMIN.slice(0, -1)}`,
      `Bearer ${hk.key}`,
      ADMIN,
      `Basic ${ADMIN}`,
    ]) {
      const res = await call("POST", "/v1/admin/accounts", auth, { name: "Intruder" });
      assert.equal(res.status, 401, `${auth}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, "unauthorized");
    }
    assert.equal(await count(), before);
  });

  test("bad admin input is 422 naming the field", async () => {
    const empty = await call("POST", "/v1/admin/accounts", `Bearer ${ADMIN}`, { name: "" });
    assert.equal(empty.status, 422);
    assert.equal(empty.body.error.field, "name");
    const typo = await call("POST", "/v1/admin/accounts", `Bearer ${ADMIN}`, { nmae: "X" });
    assert.equal(typo.status, 422);
    assert.equal(typo.body.error.field, "nmae");
  });

  test("without HIKYAKU_ADMIN_TOKEN the admin API does not exist (404), whatever is sent", async () => {
    const app = createApp({ db: hk.service.db, config: { ...hk.config, HIKYAKU_ADMIN_TOKEN: undefined } });
    for (const auth of [undefined, `Bearer ${ADMIN}`, "Bearer ", `Bearer ${hk.key}`]) {
      const res = await app.request("/v1/admin/accounts", {
        method: "POST",
        headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) },
        body: JSON.stringify({ name: "X" }),
      });
      assert.equal(res.status, 404, String(auth));
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(body.error.code, "not_found");
    }
  });
});
