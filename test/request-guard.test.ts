// The request guard skips its walk over bodies that cannot hide what it looks for (no \u
// escape, no more brackets than the depth limit). These pin the edges of that shortcut:
// the deepest allowed body passes the guard, one level more is refused, and an escaped
// NUL is still found in a body too shallow to be walked for depth.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MAX_JSON_DEPTH } from "../src/api/request-guard.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

let hk: TestService;

before(async () => {
  hk = await startTestService({ HIKYAKU_ROLES: "api" });
});

after(async () => {
  await hk?.stop();
});

const nested = (levels: number) => `{"ips":${"[".repeat(levels - 1)}${"]".repeat(levels - 1)}}`;

test(`a body ${MAX_JSON_DEPTH} containers deep passes the guard; one more is refused for its depth`, async () => {
  const deepest = await hk.api("PUT", "/v1/source-ips", nested(MAX_JSON_DEPTH));
  assert.equal(deepest.status, 422);
  assert.doesNotMatch(deepest.body.error.message, /levels deep/, "refused by the route's schema, not the guard");
  const deeper = await hk.api("PUT", "/v1/source-ips", nested(MAX_JSON_DEPTH + 1));
  assert.equal(deeper.status, 422);
  assert.equal(deeper.body.error.field, "ips");
  assert.match(deeper.body.error.message, /^ips nests objects and arrays more than 32 levels deep\.$/);
});

test("an escaped NUL or lone surrogate is found in a small body, named by its field", async () => {
  for (const escaped of ["\\u0000", "\\ud800", "\\uDC00x"]) {
    const r = await hk.api("PUT", "/v1/source-ips", `{"ips":["127.0.0.1${escaped}"]}`);
    assert.equal(r.status, 422, escaped);
    assert.equal(r.body.error.field, "ips[0]");
    assert.match(r.body.error.message, /NUL character or an unpaired UTF-16 surrogate/);
  }
  const fine = await hk.api("PUT", "/v1/source-ips", `{"ips":["\\u0031\\u0032\\u0037.0.0.1"]}`);
  assert.equal(fine.status, 200, JSON.stringify(fine.body));
  assert.deepEqual(fine.body.ips, ["127.0.0.1"]);
});
