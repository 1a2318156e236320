// Time-ordered UUIDs (RFC 9562 version 7): new rows land at the right edge of their
// indexes, and ids sort by creation time.
import { randomBytes } from "node:crypto";
import { nowMs } from "../clock.ts";

export function uuidv7(): string {
  const b = randomBytes(16);
  const ms = nowMs();
  b.writeUIntBE(ms, 0, 6);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x70;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(s: string): boolean {
  return UUID.test(s);
}
