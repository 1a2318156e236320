// The HTTP door writes composed messages out with buildInline() (src/accept/mime-build.ts)
// instead of nodemailer's stream-based MimeNode.build(). This holds the two to the same
// bytes: hand-picked messages that take every branch (7bit, quoted-printable, base64,
// alternative, mixed, related, binary and text attachments, a body ending in CR, LF or
// neither, empty bodies), then a few hundred generated ones from a fixed seed.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Mailbox } from "../src/accept/addresses.ts";
import { type Attachment, type ComposeInput, composeTree } from "../src/accept/compose.ts";
import { buildInline } from "../src/accept/mime-build.ts";

function input(over: Partial<ComposeInput>): ComposeInput {
  return {
    from: { email: "news@shop.test", name: "Shop" },
    to: [{ email: "someone@example.jp" }],
    cc: [],
    replyTo: [],
    subject: "Your order",
    messageId: "0190a7d2-1111-7000-8000-000000000001@hikyaku.test",
    date: new Date("2026-11-27T09:00:00Z"),
    ...over,
  };
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

async function sameBytes(name: string, i: ComposeInput) {
  // Both orders: writing a tree sets headers on it (boundary, transfer encoding), so
  // either writer must give the same bytes whether it goes first or second.
  const first = composeTree(i);
  const inline = buildInline(first);
  assert.ok(inline, `${name}: buildInline wrote the message`);
  const streamed = await first.build();
  assert.equal(inline.toString("latin1"), streamed.toString("latin1"), name);
  const second = composeTree(i);
  const streamedFirst = await second.build();
  assert.equal(buildInline(second)?.toString("latin1"), streamedFirst.toString("latin1"), `${name} (build() first)`);
}

const cases: [string, Partial<ComposeInput>][] = [
  ["short ASCII text (7bit)", { text: "Thank you for your order.\r\n" }],
  ["text without a final line break", { text: "no newline at the end" }],
  ["text ending in a lone CR", { text: "ends in CR\r" }],
  ["text ending in LF only", { text: "line one\nline two\n" }],
  ["empty text", { text: "" }],
  ["no body at all", {}],
  ["long ASCII lines (quoted-printable)", { text: `${"x".repeat(700)}\r\n${"y ".repeat(100)}` }],
  ["trailing spaces and tabs before line breaks", { text: "a  \r\nb\t\r\nc \nend " }],
  ["Japanese text", { subject: "避難指示のお知らせ", text: "【緊急】避難指示が発令されました。\r\n直ちに避難してください。\u3000以上" }],
  ["emoji and mixed scripts", { text: "Order 📦 shipped — naïve café ✓\r\n" }],
  ["html only", { html: "<p>Hello <b>world</b></p>" }],
  ["text and html (alternative)", { text: "Hello", html: `<p>${"long html ".repeat(30)}</p>` }],
  [
    "text with a PDF attachment (mixed, base64)",
    {
      text: "See attached.",
      attachments: [{ filename: "invoice.pdf", content: b64(Buffer.from([0, 1, 2, 255, 254, 13, 10, 0x25, 0x50])), content_type: "application/pdf" }],
    },
  ],
  [
    "text attachment",
    { text: "See attached.", attachments: [{ filename: "notes.txt", content: b64("plain notes\r\nsecond line"), content_type: "text/plain" }] },
  ],
  [
    "html with an inline image (related)",
    {
      html: '<img src="cid:logo@shop">',
      text: "logo",
      attachments: [{ filename: "logo.png", content: b64(Buffer.alloc(200, 7)), content_type: "image/png", content_id: "logo@shop" }],
    },
  ],
  [
    "several attachments, one empty",
    {
      text: "x",
      attachments: [
        { filename: "a.bin", content: "" },
        { filename: "日本語.csv", content: b64("a,b\r\n1,2\r\n") },
      ],
    },
  ],
  [
    "custom headers, cc and reply-to",
    {
      text: "x",
      headers: { "X-Campaign": "winter", "List-Unsubscribe": "<mailto:u@shop.test>" },
      cc: [{ email: "cc@example.jp", name: "山田 太郎" }],
      replyTo: [{ email: "help@shop.test" }],
    },
  ],
];

test("buildInline writes the same bytes as MimeNode.build() for every kind of message", async () => {
  for (const [name, over] of cases) await sameBytes(name, input(over));
});

// mulberry32: a small seeded generator, so a failure can be replayed.
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("buildInline matches build() on 300 generated messages", async () => {
  const r = rng(20261127);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const pieces = [
    "a",
    "Z",
    " ",
    "  ",
    "\t",
    "\r\n",
    "\n",
    "\r",
    "=",
    ".",
    "..",
    "\r\n.\r\n",
    "あ",
    "避難",
    "\u3000",
    "é",
    "😀",
    "-",
    "x".repeat(90),
    " ".repeat(80),
    "\u00a0",
  ];
  const text = () => Array.from({ length: Math.floor(r() * 40) }, () => pick(pieces)).join("");
  const mailbox = (): Mailbox =>
    r() < 0.5 ? { email: `u${Math.floor(r() * 100)}@example.jp` } : { email: "named@example.jp", name: pick(["Taro", "山田 太郎", "O'Brien, Pat", "Ünïcode"]) };
  for (let n = 0; n < 300; n++) {
    const attachments: Attachment[] = [];
    const count = r() < 0.3 ? Math.floor(r() * 3) + 1 : 0;
    for (let k = 0; k < count; k++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256)));
      attachments.push({
        filename: pick(["a.bin", "report.pdf", "表.csv", "notes.txt"]),
        content: b64(r() < 0.5 ? bytes : text()),
        ...(r() < 0.5 ? { content_type: pick(["application/octet-stream", "text/plain", "text/csv; charset=utf-8", "image/png"]) } : {}),
        ...(r() < 0.2 ? { content_id: `cid${k}@shop` } : {}),
      });
    }
    const i = input({
      subject: text().replace(/[\r\n\t]/g, " "),
      to: [mailbox(), ...(r() < 0.3 ? [mailbox()] : [])],
      ...(r() < 0.8 ? { text: text() } : {}),
      ...(r() < 0.4 ? { html: `<p>${text()}</p>` } : {}),
      attachments,
    });
    await sameBytes(`generated message ${n}`, i);
  }
});
