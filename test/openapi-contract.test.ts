// The OpenAPI document as a contract SDK generators can trust: stable operationIds, words
// and examples on every operation, one error shape listing its codes, pagination described
// the same way everywhere; and /docs rendering all of it offline in a real browser.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createApp, OPENAPI_INFO } from "../src/api/app.ts";
import { loadConfig } from "../src/config.ts";
import type { Db } from "../src/db/client.ts";
import { errorTable } from "../src/errors.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

const doc = createApp({ db: {} as Db, config: loadConfig({}) }).getOpenAPI31Document(OPENAPI_INFO) as any;
const operations = Object.entries<any>(doc.paths).flatMap(([p, item]) =>
  Object.entries<any>(item).map(([method, op]) => ({ where: `${method.toUpperCase()} ${p}`, op })),
);

// Published names: generated clients call these. Add to the list; never rename or remove.
const PUBLISHED = [
  "checkLiveness",
  "checkReadiness",
  "sendMessage",
  "sendMessageBatch",
  "listMessages",
  "getMessage",
  "cancelMessage",
  "rescheduleMessage",
  "listLogs",
  "exportLogsCsv",
  "createAccount",
  "listAccounts",
  "updateAccount",
  "createApiKey",
  "listApiKeys",
  "revokeApiKey",
  "createDomain",
  "listDomains",
  "getDomain",
  "updateDomain",
  "deleteDomain",
  "verifyDomain",
  "rotateDomainKeys",
  "getSourceIps",
  "replaceSourceIps",
  "createSmtpCredential",
  "listSmtpCredentials",
  "revokeSmtpCredential",
  "getUsage",
  "listDestinationPolicies",
  "getDestinationPolicy",
  "setDestinationPolicy",
  "deleteDestinationPolicy",
];

describe("the OpenAPI contract", () => {
  test("every published operationId is still there, each unique and camelCase", () => {
    const ids = operations.map((o) => o.op.operationId);
    for (const id of PUBLISHED) assert.ok(ids.includes(id), `operationId ${id} is published and must stay`);
    assert.equal(new Set(ids).size, ids.length, "operationIds are unique");
    for (const { where, op } of operations) assert.match(op.operationId ?? "", /^[a-z][a-zA-Z0-9]+$/, `${where} has a camelCase operationId`);
  });

  test("every operation has a summary, a description, declared tags and explicit security", () => {
    const tags = new Set(doc.tags.map((t: any) => t.name));
    for (const { where, op } of operations) {
      assert.ok(op.summary, `${where} summary`);
      assert.ok(op.description?.length > 20, `${where} description`);
      assert.ok(op.tags?.length && op.tags.every((t: string) => tags.has(t)), `${where} tags are declared with a description`);
      assert.ok(Array.isArray(op.security), `${where} states its security (an empty list for health checks)`);
      const scheme = where.includes("/v1/admin/") ? "admin" : "bearer";
      if (where.includes(" /v1/")) assert.deepEqual(op.security, [{ [scheme]: [] }], `${where} uses the ${scheme} scheme`);
    }
    assert.ok(doc.servers?.[0]?.url, "servers is set");
  });

  test("every JSON request body and every answer with a body has an example", () => {
    for (const { where, op } of operations) {
      const body = op.requestBody?.content?.["application/json"];
      if (body) assert.ok(body.example || body.examples, `${where} request example`);
      for (const [status, res] of Object.entries<any>(op.responses)) {
        for (const [type, media] of Object.entries<any>(res.content ?? {})) assert.ok(media.example !== undefined, `${where} ${status} ${type} example`);
      }
    }
  });

  test("every error answer is the Error schema, lists exactly the codes of its status, and its example is one of them", () => {
    for (const { where, op } of operations) {
      for (const [status, res] of Object.entries<any>(op.responses)) {
        if (!/^4|^5/.test(status) || (where.includes("/readyz") && status === "503")) continue;
        const media = res.content?.["application/json"];
        assert.equal(media?.schema?.$ref, "#/components/schemas/Error", `${where} ${status}`);
        const n = Number(status);
        const codes = Object.entries(errorTable)
          .filter(([, e]) => e.http === n)
          .map(([c]) => c);
        if (Number.isNaN(n)) continue;
        assert.deepEqual(
          [...res.description.matchAll(/`(\w+)`/g)].map((m) => m[1]).filter((c) => c in errorTable),
          codes,
          `${where} ${status} lists its codes`,
        );
        assert.ok(codes.includes(media.example.error.code), `${where} ${status} example code`);
      }
      if (where.includes(" /v1/")) assert.ok(op.responses["401"] && op.responses["503"], `${where} documents 401 and 503`);
    }
  });

  test("pagination is described the same way on every list", () => {
    const lists = operations.filter(({ op }) => op.parameters?.some((p: any) => p.name === "cursor"));
    assert.ok(lists.length >= 5, `lists found: ${lists.map((l) => l.where).join(", ")}`);
    for (const { where, op } of lists) {
      const cursor = op.parameters.find((p: any) => p.name === "cursor");
      assert.equal(cursor.schema.$ref, "#/components/schemas/Cursor", `${where} cursor is the shared parameter`);
      const limit = op.parameters.find((p: any) => p.name === "limit");
      assert.match(limit?.description ?? "", /^Page size, 1-\d+ \(default \d+\)/, `${where} limit`);
      const ref = op.responses["200"].content["application/json"].schema.$ref as string;
      const page = doc.components.schemas[ref.split("/").pop() as string];
      assert.deepEqual(Object.keys(page.properties), ["data", "next_cursor"], `${where} answers { data, next_cursor }`);
      assert.match(page.properties.next_cursor.description, /Pass as `cursor`/);
    }
  });
});

describe("/docs in a real browser, offline", () => {
  let hk: TestService;
  let profile: string;
  before(async () => {
    hk = await startTestService();
    profile = mkdtempSync(path.join(os.tmpdir(), "hikyaku-chromium-"));
  });
  after(async () => {
    await hk?.stop();
    rmSync(profile, { recursive: true, force: true });
  });

  test("renders the introduction, the Generate a client section and the operations from local assets", async () => {
    const dom = await dumpDom(`${hk.url}/docs`, profile);
    assert.match(dom, /Generate a client/);
    assert.match(dom, /openapi-typescript/);
    assert.match(dom, /openapi-python-client/);
    assert.match(dom, /oapi-codegen/);
    assert.match(dom, /examples\/php\/logs\.php/);
    assert.match(dom, /opblock-summary/, "Swagger UI rendered the operations");
    assert.match(dom, /\/v1\/messages\/batch/);
  });
});

/** Chromium's rendered DOM of a page; every request it makes goes to the loopback server only. */
function dumpDom(url: string, profile: string): Promise<string> {
  const args = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    `--user-data-dir=${profile}`,
    // Anything but loopback fails, so a page that needed a CDN would not render.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--virtual-time-budget=15000",
    "--dump-dom",
    url,
  ];
  const child = spawn("/usr/bin/chromium", args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
  return new Promise((resolve, reject) =>
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`chromium exited ${code}: ${err.slice(-2000)}`));
    }),
  );
}
