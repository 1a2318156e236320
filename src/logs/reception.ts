// Writes a refused intake attempt to the reception log, for both doors. Accepted
// messages are logged by storeMessage in the same statement that commits them.
import { now } from "../clock.ts";
import type { Db } from "../db/client.ts";
import { log } from "../logger.ts";
import { countIntake } from "../metrics/instruments.ts";

export interface Refusal {
  /** The account the attempt belongs to, when it is known (an unknown IP or login has none). */
  accountId: string | null;
  channel: "http" | "smtp";
  sourceIp: string | null;
  envelopeSender: string | null;
  recipientCount: number;
  /** The 3-digit reply: an SMTP code, or the HTTP status. */
  code: number;
  enhancedCode: string | null;
  /** The sentence the client was given. */
  reason: string;
}

/**
 * Never throws: a refusal is already being answered, and a log write that fails (the
 * database is down, say) must not turn that answer into a different one.
 */
export async function recordReception(db: Db, r: Refusal): Promise<void> {
  countIntake(r.channel, "refused");
  try {
    await db.sql`
      insert into reception_events (account_id, created_at, channel, source_ip, envelope_sender, recipient_count,
        accepted, code, enhanced_code, reason, message_id)
      values (${r.accountId}, ${now()}, ${r.channel}, ${r.sourceIp}, ${storable(r.envelopeSender)}, ${r.recipientCount},
        false, ${r.code}, ${r.enhancedCode}, ${storable(r.reason.slice(0, 500))}, null)`;
  } catch (err) {
    log.warn("reception log write failed", { channel: r.channel, code: r.code, err: err as Error });
  }
}

/** PostgreSQL text cannot hold NUL, and a refusal for a NUL is exactly what must be logged: it is written as \0. */
function storable<T extends string | null>(text: T): T {
  return (text === null ? null : text.replaceAll("\0", "\\0")) as T;
}

/** What a refused POST /v1/messages body tells the reception log: its envelope sender and recipient count. */
export function describeHttpSend(body: unknown): { envelopeSender: string | null; recipientCount: number } {
  if (!body || typeof body !== "object") return { envelopeSender: null, recipientCount: 0 };
  const b = body as Record<string, unknown>;
  const envelope = b.envelope as { from?: unknown; to?: unknown } | undefined;
  const count = (v: unknown) => (Array.isArray(v) ? v.length : v === undefined || v === null ? 0 : 1);
  const recipientCount = envelope ? count(envelope.to) : count(b.to) + count(b.cc) + count(b.bcc);
  const from = envelope?.from ?? b.return_path ?? b.from;
  const address = typeof from === "object" && from !== null ? (from as { email?: unknown }).email : from;
  const text = typeof address === "string" ? (/<([^<>]*)>\s*$/.exec(address)?.[1] ?? address).trim().slice(0, 320) : null;
  return { envelopeSender: text || null, recipientCount };
}
