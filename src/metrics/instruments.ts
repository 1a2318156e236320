// What this process counts as it works, for /metrics: messages at each door, recipient
// outcomes, and how long delivery attempts take. Only the serving process's own counts:
// in a deployment with separate roles, the worker's are in the worker process.
import { Counter, type Family, Histogram } from "./exposition.ts";

const DOORS = ["http", "smtp", "dsn"];
const RESULTS = ["delivered", "deferred", "bounced", "expired", "cancelled", "suppressed"];

const intake = new Counter(
  "hikyaku_intake_messages_total",
  "Messages offered to this process, by door (http, smtp, dsn) and result (accepted, refused).",
  DOORS.flatMap((door) => ["accepted", "refused"].map((result) => ({ door, result }))),
);
const deliveries = new Counter(
  "hikyaku_deliveries_total",
  "Recipient outcomes this process recorded, by result (delivered, deferred, bounced, expired, cancelled, suppressed) and destination policy (its domain, `*`, or `none` when no destination was reached: DNS failures, expiry, cancellation, suppression).",
  RESULTS.map((result) => ({ result, policy: "*" })),
);
const attempts = new Histogram(
  "hikyaku_delivery_attempt_duration_seconds",
  "Duration of one delivery attempt to one destination domain: MX look-up, connection and SMTP transaction.",
  [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
);

const parked = new Counter(
  "hikyaku_shaping_parked_recipients_total",
  "Recipients put back to wait for their destination's budget without an attempt, by reason (the service code: shaped, destination_busy, destination_backoff, destination_suspended).",
  ["shaped", "destination_busy", "destination_backoff", "destination_suspended"].map((reason) => ({ reason })),
);

export function countParked(reason: string, n: number): void {
  if (n > 0) parked.inc({ reason }, n);
}

const WEBHOOK_FAILURES = ["http_5xx", "http_4xx", "http_other", "timeout", "connection", "internal_address"];
const webhookDelivered = new Counter(
  "hikyaku_webhook_deliveries_total",
  "Webhook events an endpoint answered with a 2xx (attempts committed by this process).",
  [{}],
);
const webhookFailed = new Counter(
  "hikyaku_webhook_failed_attempts_total",
  "Webhook attempts that failed, by reason: http_5xx, http_4xx, http_other (1xx, 3xx: redirects are not followed), timeout, connection, internal_address (the name resolved only to internal addresses).",
  WEBHOOK_FAILURES.map((reason) => ({ reason })),
);
const webhookAbandoned = new Counter(
  "hikyaku_webhook_abandoned_events_total",
  "Webhook events dropped after failing for 24 h (the log still has them; replay resends them).",
  [{}],
);
const webhookDisabled = new Counter(
  "hikyaku_webhook_endpoints_disabled_total",
  "Webhook endpoints this process disabled, by reason: gone (the endpoint answered 410), failing (every attempt failed for 3 days).",
  ["gone", "failing"].map((reason) => ({ reason })),
);

export interface WebhookRound {
  delivered: number;
  /** One class per failed attempt (src/webhooks/safe-post.ts failureClass). */
  failures: string[];
  abandoned: number;
  disabled: "gone" | "failing" | null;
}

/** Called after a round's outcome is committed, so the counts match GET /v1/webhooks/{id}/deliveries. */
export function countWebhookRound(round: WebhookRound): void {
  if (round.delivered > 0) webhookDelivered.inc({}, round.delivered);
  for (const reason of round.failures) webhookFailed.inc({ reason });
  if (round.abandoned > 0) webhookAbandoned.inc({}, round.abandoned);
  if (round.disabled) webhookDisabled.inc({ reason: round.disabled });
}

export function countIntake(door: string, result: "accepted" | "refused"): void {
  intake.inc({ door, result });
}

export function countOutcomes(items: { event: string }[], policy = "none"): void {
  for (const i of items) deliveries.inc({ result: i.event, policy });
}

export function observeAttempt(seconds: number): void {
  attempts.observe(seconds);
}

export function instrumentFamilies(): Family[] {
  return [
    intake.family(),
    deliveries.family(),
    attempts.family(),
    parked.family(),
    webhookDelivered.family(),
    webhookFailed.family(),
    webhookAbandoned.family(),
    webhookDisabled.family(),
  ];
}

/**
 * Processes this one speaks for (the worker children of `hikyaku start` with
 * HIKYAKU_WORKER_PROCESSES): each source answers with that process's counters, asked at
 * each scrape; one that does not answer in time is left out of that scrape.
 */
const others = new Set<() => Promise<Family[]>>();

/** Adds a source of another process's counters; returns its removal. */
export function addCountersFrom(source: () => Promise<Family[]>): () => void {
  others.add(source);
  return () => others.delete(source);
}

/** This process's counters and those of the processes it speaks for, summed per series. */
export async function allInstrumentFamilies(): Promise<Family[]> {
  const theirs = await Promise.all([...others].map((source) => source().catch((): Family[] => [])));
  return mergeFamilies([instrumentFamilies(), ...theirs]);
}

/**
 * Families of several processes as one: the same series (name, suffix, labels) summed;
 * help and type from the first. Only counters and histograms add up across processes; a
 * gauge (a level, such as connections open) does not, so gauges are left out (none is
 * among instrumentFamilies(); test/metrics.test.ts holds that).
 */
export function mergeFamilies(lists: Family[][]): Family[] {
  const byName = new Map<string, { family: Family; index: Map<string, number> }>();
  for (const list of lists) {
    for (const f of list) {
      if (f.type === "gauge") continue;
      let into = byName.get(f.name);
      if (!into) {
        into = { family: { ...f, samples: [] }, index: new Map() };
        byName.set(f.name, into);
      }
      for (const s of f.samples) {
        const key = `${s.suffix ?? ""}${JSON.stringify(s.labels ?? {})}`;
        const at = into.index.get(key);
        if (at === undefined) {
          into.index.set(key, into.family.samples.length);
          into.family.samples.push({ ...s });
        } else {
          const same = into.family.samples[at];
          if (same) same.value += s.value;
        }
      }
    }
  }
  return [...byName.values()].map((e) => e.family);
}
