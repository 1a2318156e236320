// The folders of src/ are layered: a module imports only from its own layer or lower
// ones. The base (clock, logger, errors, config, util) knows nothing of the database
// or the network; those (db, net) nothing of mail; the mail logic (accept, delivery, logs, …)
// nothing of the doors and roles (api, admin, smtp, worker) that drive it; and only the
// top (service, cli, bin) assembles roles. A worker never reaches into a door.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";

const LAYERS: Record<string, number> = {
  "clock.ts": 0,
  "logger.ts": 0,
  "errors.ts": 0,
  "config.ts": 0,
  util: 0,
  db: 1,
  net: 1,
  accept: 2,
  accounts: 2,
  delivery: 2,
  domains: 2,
  logs: 2,
  messages: 2,
  metrics: 2,
  suppressions: 2,
  webhooks: 2,
  api: 3,
  admin: 3,
  smtp: 3,
  worker: 3,
  "service.ts": 4,
  "cli.ts": 4,
  bin: 4,
};
/** Within the door layer: the console is served by the API and shares its context; the API manages SMTP credentials. A worker imports no door, and no door the worker. */
const DOORS_MAY: Record<string, string[]> = { api: ["admin", "smtp"], admin: ["api", "smtp"], smtp: [], worker: [] };

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return /\.(ts|tsx|mjs)$/.test(e.name) ? [p] : [];
  });
}

/** The top-level part of src/ a path belongs to: its folder, or the file itself. */
const partOf = (file: string) => path.relative("src", file).split(path.sep)[0] as string;

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.[^"']+)["']/g), ...text.matchAll(/import\(\s*["'](\.[^"']+)["']\s*\)/g)];
  return specs.map((m) => path.join(path.dirname(file), m[1] as string));
}

function violations(): string[] {
  const out: string[] = [];
  for (const file of sources("src")) {
    const from = partOf(file);
    const fromLayer = LAYERS[from];
    if (fromLayer === undefined) {
      out.push(`${file}: src/${from} has no layer in test/layering.test.ts; give it one`);
      continue;
    }
    for (const target of importsOf(file)) {
      if (!target.startsWith(`src${path.sep}`)) continue;
      const to = partOf(target);
      if (to === from) continue;
      const toLayer = LAYERS[to];
      if (toLayer === undefined) out.push(`${file} imports ${target}, which has no layer`);
      else if (toLayer > fromLayer) out.push(`${file} (layer ${fromLayer}) imports ${target} (layer ${toLayer})`);
      else if (toLayer === 3 && fromLayer === 3 && !(DOORS_MAY[from] ?? []).includes(to)) out.push(`${file} (${from}) imports ${target} (${to})`);
    }
  }
  return out;
}

test("no module imports from a higher layer", () => {
  assert.deepEqual(violations(), []);
});

test("the check sees an import that goes up", () => {
  // The rule applied to a made-up pair, so that a parser that finds no imports cannot pass.
  const found = importsOf("src/service.ts");
  assert.ok(
    found.some((p) => partOf(p) === "worker"),
    `src/service.ts should import the worker; found ${found.join(", ")}`,
  );
  assert.ok((LAYERS.db as number) < (LAYERS.worker as number));
});
