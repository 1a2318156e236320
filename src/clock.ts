// The one clock. Everything that asks "what time is it" asks here, so tests can move
// time instead of sleeping.
let offsetMs = 0;

/** Milliseconds since the epoch, as the service sees them. */
export function nowMs(): number {
  return Date.now() + offsetMs;
}

export function now(): Date {
  return new Date(nowMs());
}

/** Moves the service's clock forward (tests only). */
export function advanceClock(ms: number): void {
  offsetMs += ms;
}

export function resetClock(): void {
  offsetMs = 0;
}
