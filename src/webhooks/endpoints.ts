// An account's webhook endpoints: create (the secret is shown once), read, change,
// delete, rotate the secret. Secrets are stored encrypted, like DKIM keys.
import { now } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { decryptPrivateKey, encryptPrivateKey, encryptionKey } from "../domains/key-encryption.ts";
import { AppError } from "../errors.ts";
import { isUuid, uuidv7 } from "../util/ids.ts";
import { checkWebhookUrl } from "./check-url.ts";
import type { WebhookEventType } from "./event-types.ts";
import { newSecret } from "./signature.ts";

/** After a rotation the old secret keeps signing beside the new one this long. */
export const ROTATION_OVERLAP_MS = 24 * 3600_000;
export const MAX_ENDPOINTS = 10;

export interface Endpoint {
  id: string;
  url: string;
  events: WebhookEventType[];
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: string | null;
  previous_secret_expires_at: string | null;
  created_at: string;
  updated_at: string;
}

interface Row {
  id: string;
  url: string;
  eventTypes: WebhookEventType[];
  enabled: boolean;
  disabledReason: string | null;
  failingSince: Date | null;
  previousSecretUntil: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const view = (r: Row): Endpoint => ({
  id: r.id,
  url: r.url,
  events: r.eventTypes,
  enabled: r.enabled,
  disabled_reason: r.disabledReason,
  failing_since: iso(r.failingSince),
  previous_secret_expires_at: r.previousSecretUntil && r.previousSecretUntil > now() ? r.previousSecretUntil.toISOString() : null,
  created_at: r.createdAt.toISOString(),
  updated_at: r.updatedAt.toISOString(),
});

const COLUMNS = `id, url, event_types as "eventTypes", enabled, disabled_reason as "disabledReason", failing_since as "failingSince",
  previous_secret_until as "previousSecretUntil", created_at as "createdAt", updated_at as "updatedAt"`;

const notFound = (id: string) => new AppError("not_found", `No webhook endpoint ${id} in this account.`, { field: "id" });
const sealed = (config: Config, id: string, secret: string) => encryptPrivateKey(secret, `webhook:${id}`, encryptionKey(config));

export interface EndpointInput {
  url: string;
  events: WebhookEventType[];
  enabled?: boolean;
}

export async function createEndpoint(db: Db, config: Config, accountId: string, input: EndpointInput): Promise<Endpoint & { secret: string }> {
  const url = checkWebhookUrl(input.url, config.HIKYAKU_ALLOW_PRIVATE_DESTINATIONS);
  const id = uuidv7();
  const secret = newSecret();
  const at = now();
  const rows = await db.sql<Row[]>`
    insert into webhook_endpoints (id, account_id, url, event_types, enabled, secret, created_at, updated_at)
    select ${id}, ${accountId}, ${url}, ${[...new Set(input.events)]}::text[], ${input.enabled ?? true}, ${sealed(config, id, secret)}, ${at}, ${at}
    where (select count(*) from webhook_endpoints where account_id = ${accountId}) < ${MAX_ENDPOINTS}
    returning ${db.sql.unsafe(COLUMNS)}`;
  const [row] = rows;
  if (!row) throw new AppError("conflict", `This account already has ${MAX_ENDPOINTS} webhook endpoints; delete one first.`, { field: "url" });
  return { ...view(row), secret };
}

export async function listEndpoints(db: Db, accountId: string): Promise<Endpoint[]> {
  const rows = await db.sql<Row[]>`select ${db.sql.unsafe(COLUMNS)} from webhook_endpoints where account_id = ${accountId} order by id`;
  return rows.map(view);
}

export async function getEndpoint(db: Db, accountId: string, id: string): Promise<Endpoint> {
  const [row] = isUuid(id) ? await db.sql<Row[]>`select ${db.sql.unsafe(COLUMNS)} from webhook_endpoints where id = ${id} and account_id = ${accountId}` : [];
  if (!row) throw notFound(id);
  return view(row);
}

/** Enabling again clears the reason it was disabled and its failure streak. */
export async function updateEndpoint(db: Db, config: Config, accountId: string, id: string, input: Partial<EndpointInput>): Promise<Endpoint> {
  if (!isUuid(id)) throw notFound(id);
  const url = input.url === undefined ? null : checkWebhookUrl(input.url, config.HIKYAKU_ALLOW_PRIVATE_DESTINATIONS);
  const events = input.events === undefined ? null : [...new Set(input.events)];
  const enabled = input.enabled ?? null;
  const [row] = await db.sql<Row[]>`
    update webhook_endpoints set
      url = coalesce(${url}, url),
      event_types = coalesce(${events}::text[], event_types),
      enabled = coalesce(${enabled}::bool, enabled),
      disabled_reason = case when ${enabled}::bool is not null then null else disabled_reason end,
      failing_since = case when ${enabled}::bool then null else failing_since end,
      updated_at = ${now()}
    where id = ${id} and account_id = ${accountId}
    returning ${db.sql.unsafe(COLUMNS)}`;
  if (!row) throw notFound(id);
  if (!row.enabled) await db.sql`delete from webhook_outbox where endpoint_id = ${id}`;
  return view(row);
}

export async function deleteEndpoint(db: Db, accountId: string, id: string): Promise<void> {
  const rows = isUuid(id) ? await db.sql`delete from webhook_endpoints where id = ${id} and account_id = ${accountId} returning 1` : [];
  if (rows.length === 0) throw notFound(id);
}

/** A new secret, shown once; the current one keeps signing beside it for 24 hours. */
export async function rotateSecret(
  db: Db,
  config: Config,
  accountId: string,
  id: string,
): Promise<{ id: string; secret: string; previous_secret_expires_at: string }> {
  if (!isUuid(id)) throw notFound(id);
  const secret = newSecret();
  const at = now();
  const until = new Date(at.getTime() + ROTATION_OVERLAP_MS);
  const rows = await db.sql`
    update webhook_endpoints set previous_secret = secret, previous_secret_until = ${until}, secret = ${sealed(config, id, secret)}, updated_at = ${at}
    where id = ${id} and account_id = ${accountId} returning 1`;
  if (rows.length === 0) throw notFound(id);
  return { id, secret, previous_secret_expires_at: until.toISOString() };
}

/** The secrets that sign now: the current one, and the previous one while its overlap lasts. */
export function signingSecrets(config: Config, e: { id: string; secret: Buffer; previousSecret: Buffer | null; previousSecretUntil: Date | null }): string[] {
  const key = encryptionKey(config);
  const secrets = [decryptPrivateKey(e.secret, `webhook:${e.id}`, key)];
  if (e.previousSecret && e.previousSecretUntil && e.previousSecretUntil > now()) secrets.push(decryptPrivateKey(e.previousSecret, `webhook:${e.id}`, key));
  return secrets;
}
