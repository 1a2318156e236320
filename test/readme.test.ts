// The README's service-code table is the one in src/delivery/service-codes.ts.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { serviceCodeTableMarkdown } from "../src/delivery/service-codes.ts";

test("README lists exactly the service codes the code uses", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const table = /<!-- service-codes:start -->\n([\s\S]*?)\n<!-- service-codes:end -->/.exec(readme)?.[1];
  assert.equal(table?.trim(), serviceCodeTableMarkdown().trim(), "update the README table from serviceCodeTableMarkdown()");
});
