// Operations endpoints: liveness, readiness (and what clients see while the database
// is unreachable), the OpenAPI 3.1 document, and the /docs page with local assets only.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { createApp } from "../src/api/app.ts";
import { connect, type Db } from "../src/db/client.ts";
import { startTestService, type TestService } from "./helpers/service.ts";
import { freePort } from "./helpers/sink.ts";

let hk: TestService;
let deadDb: Db;
let deadApp: ReturnType<typeof createApp>;

before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
  // A second app in this process whose database is a closed port: cheaper than
  // stopping a real PostgreSQL, and the same code path (the driver's ECONNREFUSED).
  deadDb = connect(`postgres://nobody:nothing@127.0.0.1:${await freePort()}/gone`, { max: 1 });
  deadApp = createApp({ db: deadDb, config: hk.config });
});

after(async () => {
  await deadDb?.close();
  await hk?.stop();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(hk.url + path, { headers });

describe("health", () => {
  test("/healthz answers 200 without a key", async () => {
    const res = await get("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  });

  test("/readyz answers 200 when the database answers", async () => {
    const res = await get("/readyz");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok", database: "ok" });
  });

  test("/readyz answers 503 when the database is unreachable; /healthz stays 200", async () => {
    const started = Date.now();
    const ready = await deadApp.request("/readyz");
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { status: string; database: string; reason: string };
    assert.deepEqual({ ...body, reason: undefined }, { status: "unavailable", database: "unreachable", reason: undefined });
    assert.match(body.reason, /^The database does not answer: .*ECONNREFUSED/, "a sentence on what is wrong");
    assert.ok(Date.now() - started < 3000, "readiness answers within its own timeout");
    assert.equal((await deadApp.request("/healthz")).status, 200);
  });

  test("API calls while the database is unreachable get 503 unavailable in the one error shape", async () => {
    const requests: [string, RequestInit][] = [
      ["/v1/messages", { method: "POST", body: JSON.stringify({ from: "a@shop.test", to: "b@example.test", text: "x" }) }],
      ["/v1/messages/01936c2e-8f5a-7b3c-9d1e-2f3a4b5c6d7e", { method: "GET" }],
    ];
    for (const [path, init] of requests) {
      const res = await deadApp.request(path, { ...init, headers: { authorization: `Bearer ${hk.key}`, "content-type": "application/json" } });
      const body = (await res.json()) as { error: { code: string; message: string; request_id: string } };
      assert.equal(res.status, 503, `${path}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, "unavailable");
      assert.match(body.error.message, /database/);
      assert.match(body.error.request_id, /^req_/);
      assert.doesNotMatch(body.error.message, /ECONNREFUSED|127\.0\.0\.1|nobody/, "no internals in the sentence");
    }
  });
});

describe("OpenAPI", () => {
  let doc: any;

  before(async () => {
    const res = await get("/openapi.json");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    doc = await res.json();
  });

  test("is a valid OpenAPI 3.1 document", async () => {
    assert.match(doc.openapi, /^3\.1\./);
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.equal(validator.version, "3.1");
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2)?.slice(0, 3000));
  });

  test("lists the routes of the API", () => {
    const want: [string, string][] = [
      ["post", "/v1/messages"],
      ["get", "/v1/messages/{id}"],
      ["get", "/v1/logs"],
      ["post", "/v1/api-keys"],
      ["delete", "/v1/api-keys/{id}"],
      ["post", "/v1/admin/accounts"],
      ["get", "/healthz"],
      ["get", "/readyz"],
    ];
    for (const [method, path] of want) assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
  });

  test("every /v1 operation declares its security, its 401, and errors in the one Error shape", () => {
    assert.ok(doc.components.schemas.Error, "an Error schema");
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      if (!path.startsWith("/v1/")) continue;
      for (const [method, op] of Object.entries<any>(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        assert.ok(op.security?.length, `${where} declares security`);
        assert.ok(op.responses["401"], `${where} documents 401`);
        for (const [status, res] of Object.entries<any>(op.responses)) {
          if (Number(status) < 400) continue;
          assert.equal(res.content?.["application/json"]?.schema?.$ref, "#/components/schemas/Error", `${where} ${status} uses Error`);
        }
        for (const param of path.match(/\{(\w+)\}/g) ?? []) {
          const name = param.slice(1, -1);
          assert.ok(
            op.parameters?.some((p: any) => p.name === name && p.in === "path" && p.required),
            `${where} declares path parameter ${name}`,
          );
        }
      }
    }
  });

  test("the send-message body documents its fields, snake_case, and refuses unknown ones", () => {
    const ref = doc.paths["/v1/messages"].post.requestBody.content["application/json"].schema.$ref as string;
    const schema = doc.components.schemas[ref.split("/").pop() as string];
    assert.equal(schema.additionalProperties, false);
    for (const k of [
      "from",
      "to",
      "cc",
      "bcc",
      "reply_to",
      "subject",
      "text",
      "html",
      "headers",
      "attachments",
      "return_path",
      "raw",
      "envelope",
      "send_at",
      "lifetime",
      "tags",
      "metadata",
    ]) {
      assert.ok(schema.properties[k], `${k} is documented`);
    }
    for (const k of Object.keys(schema.properties)) assert.match(k, /^[a-z][a-z0-9_]*$/, `${k} is snake_case`);
  });
});

describe("/docs", () => {
  test("serves an HTML page whose scripts and styles are local and load", async () => {
    const res = await get("/docs");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    const html = await res.text();
    const assets = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
    assert.ok(assets.length >= 2, `scripts and styles found: ${assets.join(", ")}`);
    assert.doesNotMatch(html, /(?:src|href)="(?:https?:)?\/\//, "no asset from another origin (CDN)");
    for (const asset of assets) {
      assert.match(asset, /^\/docs\/assets\//, `${asset} is served locally`);
      const a = await get(asset);
      const body = await a.text();
      assert.equal(a.status, 200, asset);
      assert.ok(body.length > 0, `${asset} is not empty`);
      assert.match(a.headers.get("content-type") ?? "", asset.endsWith(".css") ? /text\/css/ : /javascript/, asset);
    }
    const init = await (await get("/docs/assets/docs-init.js")).text();
    assert.match(init, /["']\/openapi\.json["']/, "the page reads the local OpenAPI document");
  });

  test("unknown or path-escaping asset names are 404", async () => {
    for (const p of ["/docs/assets/nope.js", "/docs/assets/..%2Fpackage.json", "/docs/assets/%2E%2E%2F%2E%2E%2Fpackage.json"]) {
      const res = await get(p);
      assert.equal(res.status, 404, p);
    }
  });
});
