// Time-ordered UUIDs (RFC 9562 version 7): new rows land at the right edge of their
// indexes, and ids sort by creation time. Random bytes come from a pool refilled 4 KiB
// at a time: one OpenSSL call per 256 ids instead of one per id.
import { randomFillSync } from "node:crypto";
import { nowMs } from "../clock.ts";

const pool = Buffer.alloc(4096);
let offset = pool.length;

function random16(): Buffer {
  if (offset + 16 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const b = Buffer.from(pool.subarray(offset, offset + 16));
  offset += 16;
  return b;
}

export function uuidv7(): string {
  const b = random16();
  b.writeUIntBE(nowMs(), 0, 6);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x70;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(s: string): boolean {
  return UUID.test(s);
}
