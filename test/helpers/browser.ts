// Debian's Chromium driven by playwright-core for the console's browser tests: a fresh
// profile per file, axe-core's verdict and a screenshot (into test/artifacts/) per page.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { type BrowserContext, chromium, type Locator, type Page } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = path.resolve("test/artifacts");
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface TestBrowser {
  context: BrowserContext;
  /** Messages the browser logged about the Content-Security-Policy (expected: none). */
  cspViolations: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Fails, never skips, when Chromium is missing: .ci/run installs it. */
export async function startBrowser(origin: string, opts: { locale?: string } = {}): Promise<TestBrowser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const profile = mkdtempSync(path.join(os.tmpdir(), "hikyaku-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    locale: opts.locale ?? "en-US",
    acceptDownloads: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    timeout: 60_000,
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  const cspViolations: string[] = [];
  return {
    context,
    cspViolations,
    async newPage() {
      const page = await context.newPage();
      page.on("console", (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
      });
      return page;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A screenshot for the CI artifacts, and axe-core's verdict on the page as rendered: no serious or critical violation. */
export async function checkPage(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `admin-${name}.png`), fullPage: true });
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await (globalThis as any).axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v: any) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n: any) => n.target.join(" ")).slice(0, 3) }));
  });
  const bad = violations.filter((v: { impact: string }) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad, [], `${name}: accessibility violations ${JSON.stringify(bad)}`);
}

/** The text a person sees in the element (rendered text, not the DOM's textContent). */
// biome-ignore lint/performance/useDomNodeTextContent: playwright's innerText is the rendered text, which is what the tests assert
export const seen = (l: Locator): Promise<string> => l.innerText();

/** Reloads, a few times a second, until the page shows `locator` (the log is queryable within a second; a loaded machine is slower). */
export async function reloadUntil(page: Page, locator: () => Locator, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await locator().count()) > 0) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
    await page.reload();
  }
}

/**
 * Whether the page's own font stack draws `chars` as real glyphs: each character is drawn
 * on a canvas in the body's font, and the bitmaps must all differ from one another and
 * from the missing-glyph box (tofu), which a machine without a CJK font draws for every one.
 */
export async function glyphsRender(page: Page, chars: string[]): Promise<{ distinct: number; tofu: string[]; blank: string[] }> {
  // A string, not a function: the test runner's compiler would wrap named inner functions in a helper the page lacks.
  return page.evaluate(`(() => {
    const list = ${JSON.stringify(chars)};
    const canvas = document.createElement("canvas");
    canvas.width = 48;
    canvas.height = 48;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.font = "36px " + getComputedStyle(document.body).fontFamily;
    const draw = (ch) => {
      ctx.clearRect(0, 0, 48, 48);
      ctx.fillText(ch, 4, 38);
      const data = ctx.getImageData(0, 0, 48, 48).data;
      let inked = 0;
      let hash = 0;
      for (let i = 3; i < data.length; i += 4) {
        if (data[i]) inked++;
        hash = (Math.imul(hash, 31) + data[i]) | 0;
      }
      return { inked, key: inked + ":" + hash };
    };
    // A noncharacter: no font has a glyph for it, so it is drawn as the missing-glyph box.
    const missing = draw("\u{10FFFF}").key;
    const drawn = list.map((ch) => ({ ch, ...draw(ch) }));
    return {
      distinct: new Set(drawn.map((d) => d.key)).size,
      tofu: drawn.filter((d) => d.key === missing).map((d) => d.ch),
      blank: drawn.filter((d) => d.inked === 0).map((d) => d.ch),
    };
  })()`);
}
