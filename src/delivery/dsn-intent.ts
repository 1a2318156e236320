// Turns DSN intents (written by recordOutcomes in the statement that records a failure)
// into DSNs through accept(). The DSN is accepted under an idempotency key made from the
// intent's id and the intent deleted after, so whichever crash comes, a retry finds
// either the intent unsent (and sends it) or the DSN already stored (and only deletes
// the intent): exactly one DSN. Sent at once after the failure, and by a periodic job
// for intents a crash left behind.
import { type AcceptDeps, accept } from "../accept/accept.ts";
import { parseRaw } from "../accept/raw-message.ts";
import { now } from "../clock.ts";
import { log } from "../logger.ts";
import { buildDsn } from "./dsn.ts";

interface Intent {
  id: number;
  accountId: string;
  messageId: string;
  envelopeFrom: string;
  messageCreatedAt: Date;
  headers: Buffer | null;
  failures: { address: string; status: string; diagnostic: string; remote_mta: string | null }[];
}

// An Idempotency-Key from HTTP is one header line, so it never holds a line break: this
// key cannot collide with one a client chose.
const keyOf = (id: number) => `dsn intent\n${id}`;

/** Sends these intents' DSNs; one that fails stays for the periodic job. */
export async function sendDsnIntents(deps: AcceptDeps, ids: number[]): Promise<void> {
  for (const id of ids) {
    try {
      await sendDsnIntent(deps, id);
    } catch (err) {
      log.error("could not queue a DSN; it will be retried", { dsn_intent: id, err: err as Error });
    }
  }
}

async function sendDsnIntent(deps: AcceptDeps, id: number): Promise<void> {
  const [intent] = await deps.db.sql<Intent[]>`
    select id, account_id as "accountId", message_id as "messageId", envelope_from as "envelopeFrom",
      message_created_at as "messageCreatedAt", headers, failures
    from dsn_intents where id = ${id}`;
  if (!intent) return; // sent already
  const source = {
    id: intent.messageId,
    accountId: intent.accountId,
    envelopeFrom: intent.envelopeFrom,
    createdAt: intent.messageCreatedAt,
    raw: intent.headers ?? Buffer.alloc(0),
  };
  const failed = intent.failures.map((f) => ({
    address: f.address,
    action: "failed" as const,
    status: f.status,
    diagnostic: f.diagnostic,
    remoteMta: f.remote_mta,
  }));
  const raw = buildDsn(deps.config.HIKYAKU_HOSTNAME, source, failed);
  parseRaw(raw); // a DSN we cannot parse back is a bug: fail loudly here, not at the destination
  await accept(deps, {
    accountId: intent.accountId,
    channel: "dsn",
    sourceIp: null,
    envelopeFrom: "",
    internal: true,
    recipients: [intent.envelopeFrom],
    raw,
    idempotency: { key: keyOf(id), requestHash: keyOf(id) },
  });
  await deps.db.sql`delete from dsn_intents where id = ${id}`;
}

/** The periodic job: intents older than `minAgeMs` (their immediate send crashed or failed). */
export async function sendPendingDsns(deps: AcceptDeps, minAgeMs = 30_000, limit = 200): Promise<number> {
  const rows = await deps.db.sql<{ id: number }[]>`
    select id from dsn_intents where created_at <= ${new Date(now().getTime() - minAgeMs)} order by id limit ${limit}`;
  await sendDsnIntents(
    deps,
    rows.map((r) => r.id),
  );
  return rows.length;
}
