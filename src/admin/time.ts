// Times in the account's time zone: shown that way, and read that way from the
// console's date-time fields (which carry no offset).
import type { Lang } from "./i18n.ts";

const formats = new Map<string, Intl.DateTimeFormat>();

function format(lang: Lang, timeZone: string): Intl.DateTimeFormat {
  const key = `${lang} ${timeZone}`;
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(lang === "ja" ? "ja-JP" : "en-GB", {
      timeZone,
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hour12: false,
    });
    if (formats.size > 200) formats.clear();
    formats.set(key, f);
  }
  return f;
}

export function showTime(lang: Lang, timeZone: string, t: string | Date | null | undefined): string {
  if (!t) return "—";
  return format(lang, timeZone).format(typeof t === "string" ? new Date(t) : t);
}

/** The zone's offset from UTC at that instant, in minutes (Asia/Tokyo: +540). */
function offsetMinutes(timeZone: string, at: number): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  const local = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return Math.round((local - Math.floor(at / 1000) * 1000) / 60_000);
}

/**
 * A `YYYY-MM-DDTHH:MM[:SS]` from a datetime-local field, read in the zone, as RFC 3339
 * (UTC). Anything else is passed on unchanged, for the log query to refuse by name.
 */
export function localToRfc3339(text: string, timeZone: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) return text;
  const asUtc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  if (Number.isNaN(asUtc)) return text;
  // Twice: the first guess may sit on the other side of a daylight-saving change.
  let t = asUtc - offsetMinutes(timeZone, asUtc) * 60_000;
  t = asUtc - offsetMinutes(timeZone, t) * 60_000;
  return new Date(t).toISOString();
}

/** The instant as a datetime-local value in the zone (to refill a filter field). */
export function rfc3339ToLocal(text: string, timeZone: string): string {
  const t = Date.parse(text);
  if (Number.isNaN(t)) return text;
  return new Date(t + offsetMinutes(timeZone, t) * 60_000).toISOString().slice(0, 16);
}
