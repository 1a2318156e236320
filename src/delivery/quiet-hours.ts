// Quiet hours (配信禁止時間): a daily window, in a named time zone, in which no attempt
// starts. windowEnd() says whether an instant falls inside the window and, if so, when
// the window ends; windows may cross midnight and DST changes are honoured.
import type { QuietHours } from "../accept/policy.ts";

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Wall-clock minutes since local midnight, and the zone's UTC offset in minutes, at `at`. */
function local(at: Date, zone: string): { minutes: number; seconds: number; offset: number } {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  const asUtc = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  return {
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
    seconds: Number(parts.second),
    offset: Math.round((asUtc - Math.floor(at.getTime() / 1000) * 1000) / 60_000),
  };
}

/** The end of the quiet window holding `at`, or null when `at` is outside it. */
export function windowEnd(q: QuietHours, at: Date): Date | null {
  const start = toMinutes(q.start);
  const end = toMinutes(q.end);
  const now = local(at, q.time_zone);
  const inside = start < end ? now.minutes >= start && now.minutes < end : now.minutes >= start || now.minutes < end;
  if (!inside) return null;
  const wait = (end - now.minutes + 1440) % 1440;
  let candidate = new Date(at.getTime() + (wait * 60 - now.seconds) * 1000 - (at.getTime() % 1000));
  // Across a DST change the wall clock moves; correct by the change in offset.
  const shift = local(candidate, q.time_zone).offset - now.offset;
  if (shift !== 0) candidate = new Date(candidate.getTime() - shift * 60_000);
  return candidate;
}
