// Per-message delivery policy, from JSON fields (HTTP) or X-Hikyaku-* extended headers
// (raw and SMTP submissions). One parser for both doors; every refusal names the field
// or header, and unknown X-Hikyaku-* headers are refused so typos never pass.
import { nowMs } from "../clock.ts";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import { type HeaderField, fieldValue } from "./raw-message.ts";

export type Priority = "high" | "normal" | "bulk";
/** How a priority is stored in delivery_queue and graphile-worker jobs: lower runs first. */
export const PRIORITIES = { high: -10, normal: 0, bulk: 10 } as const;

export interface QuietHours {
  start: string;
  end: string;
  time_zone: string;
}

export interface PolicyInput {
  lifetime?: number;
  retry_interval?: number;
  priority?: Priority;
  send_at?: string;
  tags?: string[];
  quiet_hours?: QuietHours;
}

export interface Policy {
  lifetime: number;
  retryInterval: number;
  priority: Priority;
  sendAt: Date | null;
  tags: string[];
  quietHours: QuietHours | null;
}

export const LIMITS = {
  lifetime: { min: 60, max: 72 * 3600 },
  retryInterval: { min: 10, max: 3600 },
  sendAtAheadDays: 30,
  sendAtPastSeconds: 60,
  tags: 10,
} as const;

const HEADERS: Record<string, keyof PolicyInput> = {
  "x-hikyaku-send-at": "send_at",
  "x-hikyaku-lifetime": "lifetime",
  "x-hikyaku-retry-interval": "retry_interval",
  "x-hikyaku-quiet-hours": "quiet_hours",
  "x-hikyaku-priority": "priority",
  "x-hikyaku-tags": "tags",
};
const TAG = /^[A-Za-z0-9_.:@-]{1,64}$/;
const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Takes the X-Hikyaku-* headers out of a message and returns them as policy input. */
export function policyFromHeaders(headers: HeaderField[]): { input: PolicyInput; rest: HeaderField[]; names: Record<string, string> } {
  const input: PolicyInput = {};
  const names: Record<string, string> = {};
  const rest: HeaderField[] = [];
  for (const h of headers) {
    if (!h.lower.startsWith("x-hikyaku-")) {
      rest.push(h);
      continue;
    }
    const key = HEADERS[h.lower];
    if (!key) {
      throw new AppError("validation_error", `${h.name} is not a Hikyaku header; known ones are ${Object.keys(HEADERS).map(titleCase).join(", ")}.`, {
        field: h.name,
      });
    }
    if (names[key]) throw new AppError("validation_error", `${h.name} appears more than once.`, { field: h.name });
    names[key] = h.name;
    const v = fieldValue(h);
    if (key === "lifetime" || key === "retry_interval") input[key] = /^\d{1,9}$/.test(v) ? Number(v) : Number.NaN;
    else if (key === "tags")
      input.tags = v
        .split(",")
        .map((t) => t.trim())
        .filter(Boolean);
    else if (key === "quiet_hours") input.quiet_hours = parseQuietHoursHeader(v, h.name);
    else if (key === "priority") input.priority = v.toLowerCase() as Priority;
    else input.send_at = v;
  }
  return { input, rest, names };
}

function titleCase(s: string): string {
  return s.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
}

function parseQuietHoursHeader(v: string, name: string): QuietHours {
  const m = /^(\d\d:\d\d)-(\d\d:\d\d)\s+(\S+)$/.exec(v);
  if (!m) throw new AppError("validation_error", `${name} must look like "22:00-07:00 Asia/Tokyo".`, { field: name });
  return { start: m[1] as string, end: m[2] as string, time_zone: m[3] as string };
}

/** Merges JSON fields over header values, checks every value, and fills in defaults. */
export function resolvePolicy(json: PolicyInput, fromHeaders: PolicyInput, names: Record<string, string>, config: Config): Policy {
  const field = (k: keyof PolicyInput) => (json[k] !== undefined ? k : (names[k] ?? k));
  const v: PolicyInput = { ...fromHeaders, ...stripUndefined(json) };
  const fail = (k: keyof PolicyInput, why: string) => new AppError("validation_error", `${field(k)} ${why}`, { field: field(k) });
  const int = (k: "lifetime" | "retry_interval", lim: { min: number; max: number }, dflt: number) => {
    const n = v[k];
    if (n === undefined) return dflt;
    if (!Number.isInteger(n) || n < lim.min || n > lim.max) throw fail(k, `must be a whole number of seconds from ${lim.min} to ${lim.max}.`);
    return n;
  };
  const lifetime = int("lifetime", LIMITS.lifetime, config.HIKYAKU_LIFETIME);
  const retryInterval = int("retry_interval", LIMITS.retryInterval, config.HIKYAKU_RETRY_INTERVAL);
  const priority = v.priority ?? "normal";
  if (!["high", "normal", "bulk"].includes(priority)) throw fail("priority", "must be high, normal or bulk.");
  const tags = v.tags ?? [];
  if (tags.length > LIMITS.tags) throw fail("tags", `may hold at most ${LIMITS.tags} tags.`);
  const badTag = tags.find((t) => !TAG.test(t));
  if (badTag !== undefined) throw fail("tags", `"${badTag.slice(0, 70)}" is not a tag: use 1-64 letters, digits and _ . : @ -.`);
  return {
    lifetime,
    retryInterval,
    priority,
    sendAt: parseSendAt(v.send_at, field("send_at")),
    tags: [...new Set(tags)],
    quietHours: checkQuietHours(v.quiet_hours, field("quiet_hours")),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as Partial<T>;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseSendAt(text: string | undefined, field: string): Date | null {
  if (text === undefined) return null;
  const t = Date.parse(text);
  if (!RFC3339.test(text) || Number.isNaN(t)) {
    throw new AppError("validation_error", `${field} must be an RFC 3339 time with an offset, like 2026-12-01T09:00:00+09:00.`, { field });
  }
  const now = nowMs();
  if (t < now - LIMITS.sendAtPastSeconds * 1000) throw new AppError("validation_error", `${field} is in the past; leave it out to send now.`, { field });
  if (t > now + LIMITS.sendAtAheadDays * 86_400_000) {
    throw new AppError("validation_error", `${field} is more than ${LIMITS.sendAtAheadDays} days ahead.`, { field });
  }
  return t <= now ? null : new Date(t);
}

function checkQuietHours(q: QuietHours | undefined, field: string): QuietHours | null {
  if (q === undefined) return null;
  if (!HHMM.test(q.start) || !HHMM.test(q.end) || q.start === q.end) {
    throw new AppError("validation_error", `${field} needs a start and an end in HH:MM (24 h), and they must differ.`, { field });
  }
  try {
    new Intl.DateTimeFormat("en", { timeZone: q.time_zone });
  } catch {
    throw new AppError("validation_error", `${field}: "${q.time_zone}" is not a time zone name such as Asia/Tokyo.`, { field });
  }
  return q;
}
