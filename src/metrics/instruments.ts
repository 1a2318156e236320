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
  "Recipient outcomes this process recorded, by result (delivered, deferred, bounced, expired, cancelled, suppressed).",
  RESULTS.map((result) => ({ result })),
);
const attempts = new Histogram(
  "hikyaku_delivery_attempt_duration_seconds",
  "Duration of one delivery attempt to one destination domain: MX look-up, connection and SMTP transaction.",
  [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
);

const parked = new Counter(
  "hikyaku_destination_parked_total",
  "Recipients put back to wait for their destination's budget without an attempt, by reason (the service code: shaped, destination_busy, destination_backoff, destination_suspended).",
  ["shaped", "destination_busy", "destination_backoff", "destination_suspended"].map((reason) => ({ reason })),
);

export function countParked(reason: string, n: number): void {
  if (n > 0) parked.inc({ reason }, n);
}

export function countIntake(door: string, result: "accepted" | "refused"): void {
  intake.inc({ door, result });
}

export function countOutcomes(items: { event: string }[]): void {
  for (const i of items) deliveries.inc({ result: i.event });
}

export function observeAttempt(seconds: number): void {
  attempts.observe(seconds);
}

export function instrumentFamilies(): Family[] {
  return [intake.family(), deliveries.family(), attempts.family(), parked.family()];
}
