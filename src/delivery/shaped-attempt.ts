// One message's recipients at one destination, within its destination policy: split into
// transactions of recipients_per_transaction, each sent when the budget grants its slot
// (waiting in the job only when the slot is within a second), over the policy's
// connections. What the budget cannot take now is parked, not attempted: the caller
// records it as a deferral that costs no attempt.
import { nowMs } from "../clock.ts";
import { log } from "../logger.ts";
import type { ConnectionPool } from "./connection-pool.ts";
import type { Target } from "./destination.ts";
import type { ResolvedPolicy } from "./destination-policy.ts";
import type { Outcome } from "./outcome.ts";
import type { Admission, ParkReason, Shaper } from "./shaper.ts";
import { type AttemptInput, attemptDomain, sleepUntil } from "./smtp-attempt.ts";

export interface ShapedInput {
  envelopeFrom: string;
  raw: Buffer;
  priority: number;
  /** The servers and TLS mode the TLS policy allows (planTls in tls-plan.ts). */
  targets: Target[];
  tls: AttemptInput["tls"];
  audit?: AttemptInput["audit"];
  recipients: string[];
}

export interface Park {
  recipients: string[];
  reason: ParkReason;
  until: Date;
}

export interface ShapedResult {
  /** The recipients that were attempted, with their outcomes. */
  outcomes: Map<string, Outcome>;
  /** The recipients that wait for the budget, and until when. */
  parks: Park[];
  /** The destination policy's name (its domain, or `*`), for the metrics; unset when no destination was found. */
  policy?: string;
}

/** After a shaping query failed: looked at again in a second. */
const BUSY_MS = 1000;
/**
 * How late a paced transaction may begin: half its interval, and at least this. Later
 * (it waited for a connection, or the process was starved) it sends nothing: its slot is
 * lost, and it takes the next one of its grant, or asks for a new one. Sent that late it
 * would go out on the heels of the next slot's transaction, faster than the rate. After
 * MAX_LATE lost slots in one run, the rest parks for an interval.
 */
const LATE_MIN_MS = 200;
const MAX_LATE = 3;
/** A paced transaction looks for its connection this long before its slot (at most one interval). */
const LEAD_MAX_MS = 250;

export async function attemptShaped(shaper: Shaper, pool: ConnectionPool, policy: ResolvedPolicy, input: ShapedInput): Promise<ShapedResult> {
  const size = policy.policy.recipients_per_transaction;
  const chunks: string[][] = [];
  for (let i = 0; i < input.recipients.length; i += size) chunks.push(input.recipients.slice(i, i + size));
  const outcomes = new Map<string, Outcome>();
  const parks: Park[] = [];
  let askedAt = nowMs();
  let admission: Admission | undefined = await shaper.admit(policy, chunks.length, input.priority);
  /** Chunks done (sent, or parked as busy); slots of the current admission used (sent or lost); slots lost. */
  let sentChunks = 0;
  let used = 0;
  let late = 0;
  /** When this run's previous transaction ended: going out after it is not a bunch. */
  let readyAt = askedAt;
  let blocked: { reason: ParkReason; until: Date } | undefined;
  while (admission && sentChunks < chunks.length && !blocked) {
    if (used >= admission.granted) {
      // A lost slot left a chunk without one, and the grant had room for all: ask again.
      if (late === 0 || admission.park) break;
      askedAt = nowMs();
      admission = await shaper.admit(policy, chunks.length - sentChunks, input.priority).catch((err: unknown) => {
        log.warn("destination shaping could not grant a new slot", { key: policy.key, err: err as Error });
        blocked = { reason: "shaped", until: new Date(nowMs() + BUSY_MS) };
        return undefined;
      });
      used = 0;
      continue;
    }
    const chunk = chunks[sentChunks] ?? [];
    const slotAt = admission.startMs + used * admission.intervalMs;
    const slack = Math.max(admission.intervalMs / 2, LATE_MIN_MS);
    if (admission.paced) await sleepUntil(slotAt - Math.min(admission.intervalMs, LEAD_MAX_MS));
    const got = await attemptDomain(pool, {
      envelopeFrom: input.envelopeFrom,
      recipients: chunk,
      raw: input.raw,
      targets: input.targets,
      tls: input.tls,
      audit: input.audit,
      maxRecipientsPerTransaction: size,
      budget: shaper.budget(policy),
      notBefore: slotAt,
      // (a burst's slot may lie before the question: it was due when asked)
      ...(admission.paced ? { startBy: Math.max(slotAt, askedAt, readyAt) + slack } : {}),
    });
    used++;
    if (chunk.every((r) => got.get(r)?.service === "shaped")) {
      // Its slot passed while it waited: lost, not sent late.
      if (++late >= MAX_LATE) {
        blocked = { reason: "shaped", until: new Date(nowMs() + Math.max(admission.intervalMs, BUSY_MS)) };
      }
      continue;
    }
    sentChunks++;
    readyAt = nowMs();
    const busy = chunk.filter((r) => got.get(r)?.service === "destination_busy");
    // Parked because no connection was free: back when one likely is (ConnectionPool.busyDelayMs).
    if (busy.length > 0) parks.push({ recipients: busy, reason: "destination_busy", until: new Date(nowMs() + pool.busyDelayMs(shaper.budget(policy).key)) });
    if (busy.length < chunk.length) shaper.sent(policy.key);
    for (const r of chunk) {
      const o = got.get(r);
      if (o && o.service !== "destination_busy") outcomes.set(r, o);
    }
    // Once a transaction went out its outcomes are what happened: a shaping query that
    // fails now must not throw them away (the caller would retry delivered recipients).
    blocked = await shaper.afterAttempt(policy, [...got.values()]).catch((err: unknown) => {
      log.warn("destination shaping could not learn from an attempt", { key: policy.key, err: err as Error });
      return { reason: "shaped" as const, until: new Date(nowMs() + BUSY_MS) };
    });
  }
  const rest = chunks.slice(sentChunks).flat();
  if (rest.length === 0) return { outcomes, parks };
  // After a slow-down reply or a suspension, the rest queues behind the budget's other parked work.
  const again = blocked && late < MAX_LATE ? await shaper.admit(policy, chunks.length - sentChunks, input.priority).catch(() => undefined) : admission;
  const park = again?.park ?? (blocked ? { until: blocked.until, reason: blocked.reason } : { until: new Date(nowMs()), reason: "shaped" as const });
  parks.push({ recipients: rest, ...park });
  return { outcomes, parks };
}
