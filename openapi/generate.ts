// Writes the OpenAPI document generated from the route definitions to
// openapi/openapi.json; with --check, fails when the committed file differs.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createApp, OPENAPI_INFO } from "../src/api/app.ts";
import { loadConfig } from "../src/config.ts";
import type { Db } from "../src/db/client.ts";

const target = fileURLToPath(new URL("./openapi.json", import.meta.url));
// Building the document touches no database: the routes are only described.
const app = createApp({ db: {} as Db, config: loadConfig({}) });
const doc = app.getOpenAPI31Document(OPENAPI_INFO);
const text = `${JSON.stringify({ "x-generated": "by `npm run openapi` from src/api; do not edit", ...doc }, null, 2)}\n`;

if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(target, "utf8");
  } catch {}
  if (committed !== text) {
    console.error("openapi/openapi.json differs from the routes in src/api: run `npm run openapi` and commit the result.");
    process.exit(1);
  }
  console.log("openapi/openapi.json matches the code");
} else {
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
