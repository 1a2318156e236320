// The Hikyaku client: one namespace per resource, each method one API operation (named in
// its comment by operationId), every result `{ data, error }`. Types come from schema.ts,
// generated from openapi/openapi.json; nothing here validates what the server validates.
import { type ClientOptions, type RequestSpec, type Result, Transport } from "./http.ts";
import type { components, operations } from "./schema.ts";

export type { ClientOptions, HikyakuError, Result } from "./http.ts";
export { SDK_VERSION } from "./http.ts";
export type { components, operations, paths } from "./schema.ts";

type Schemas = components["schemas"];
type Json<Op extends keyof operations, S extends number> =
  operations[Op]["responses"] extends Record<S, { content: { "application/json": infer T } }> ? T : never;
type Query<Op extends keyof operations> = NonNullable<operations[Op]["parameters"]["query"]>;
type Body<Op extends keyof operations> = operations[Op] extends { requestBody?: { content: { "application/json": infer T } } } ? T : never;

export type SendMessage = Schemas["SendMessage"];
export type AcceptedMessage = Schemas["AcceptedMessage"];
export type Message = Schemas["Message"];
export type MessageSummary = Schemas["MessageSummary"];
export type DeliveryEvent = Schemas["DeliveryEvent"];
export type ReceptionEvent = Schemas["ReceptionEvent"];
export type LogEvent = DeliveryEvent | ReceptionEvent;
export type BatchItemResult = Json<"sendMessageBatch", 200>["data"][number];
export type LogQuery = Omit<Query<"listLogs">, "cursor">;

/** Options of a call that sends something: an Idempotency-Key makes it safe to repeat (and so retried). */
export interface SendOptions {
  idempotencyKey?: string;
}

const enc = encodeURIComponent;

export class Hikyaku {
  readonly #t: Transport;

  constructor(options: ClientOptions) {
    this.#t = new Transport(options);
  }

  #call<T>(spec: RequestSpec): Promise<Result<T>> {
    return this.#t.request<T>(spec);
  }

  readonly messages = {
    /** sendMessage: answers once the message is committed. */
    send: (message: SendMessage, options: SendOptions = {}) =>
      this.#call<AcceptedMessage>({ method: "POST", path: "/v1/messages", body: message, ...keyed(options) }),
    /** sendMessageBatch: up to 100; each item's own result, in order. One Idempotency-Key covers the batch. */
    sendBatch: (messages: SendMessage[], options: SendOptions = {}) =>
      this.#call<Json<"sendMessageBatch", 200>>({ method: "POST", path: "/v1/messages/batch", body: { messages }, ...keyed(options) }),
    /** getMessage */
    get: (id: string) => this.#call<Message>({ method: "GET", path: `/v1/messages/${enc(id)}`, retry: "safe" }),
    /** listMessages: one page; pass `next_cursor` back as `cursor`. */
    list: (query: Query<"listMessages"> = {}) => this.#call<Json<"listMessages", 200>>({ method: "GET", path: "/v1/messages", query, retry: "safe" }),
    /** cancelMessage: 409 when nothing is left to cancel. */
    cancel: (id: string) => this.#call<Schemas["Cancelled"]>({ method: "DELETE", path: `/v1/messages/${enc(id)}`, retry: "answered" }),
    /** rescheduleMessage: while no attempt has started. */
    reschedule: (id: string, sendAt: string) =>
      this.#call<Schemas["Rescheduled"]>({ method: "PATCH", path: `/v1/messages/${enc(id)}`, body: { send_at: sendAt }, retry: "answered" }),
  };

  readonly logs = {
    /** listLogs, one page. */
    page: (query: Query<"listLogs"> = {}) => this.#call<Schemas["LogPage"]>({ method: "GET", path: "/v1/logs", query, retry: "safe" }),
    /**
     * listLogs across every page, newest first: `for await (const { data, error } of hk.logs.list({ event: "bounced" }))`.
     * An error is yielded once, as the last item; the loop never throws for it.
     */
    list: (query: LogQuery = {}) => this.#allPages<LogEvent>((cursor) => this.logs.page({ ...query, cursor })),
    /** exportLogsCsv: every matching event as one CSV file (RFC 4180, header row), as a stream of bytes. */
    csv: (query: LogQuery = {}) =>
      this.#call<ReadableStream<Uint8Array>>({ method: "GET", path: "/v1/logs.csv", query, retry: "safe", expect: "stream", accept: "text/csv" }),
  };

  readonly domains = {
    /** createDomain: generates the DKIM keys; publish the `records` it answers with. */
    create: (domain: string, options: { sign_before_verify?: boolean } = {}) =>
      this.#call<Schemas["Domain"]>({ method: "POST", path: "/v1/domains", body: { domain, ...options }, retry: "never" }),
    /** getDomain */
    get: (domain: string) => this.#call<Schemas["Domain"]>({ method: "GET", path: `/v1/domains/${enc(domain)}`, retry: "safe" }),
    /** listDomains: one page. */
    list: (query: Query<"listDomains"> = {}) => this.#call<Schemas["DomainList"]>({ method: "GET", path: "/v1/domains", query, retry: "safe" }),
    /** updateDomain */
    update: (domain: string, body: Body<"updateDomain">) =>
      this.#call<Schemas["Domain"]>({ method: "PATCH", path: `/v1/domains/${enc(domain)}`, body, retry: "safe" }),
    /** verifyDomain: looks up the records; a found DKIM record starts signing. */
    verify: (domain: string) => this.#call<Json<"verifyDomain", 200>>({ method: "POST", path: `/v1/domains/${enc(domain)}/verify`, retry: "safe" }),
    /** rotateDomainKeys: a new pending selector; the current key signs until its record is found. */
    rotate: (domain: string) => this.#call<Schemas["Domain"]>({ method: "POST", path: `/v1/domains/${enc(domain)}/rotate`, retry: "never" }),
    /** deleteDomain */
    delete: (domain: string) => this.#call<null>({ method: "DELETE", path: `/v1/domains/${enc(domain)}`, retry: "answered", expect: "none" }),
  };

  readonly usage = {
    /** getUsage: `month` as YYYY-MM; default the current month. */
    get: (query: Query<"getUsage"> = {}) => this.#call<Schemas["Usage"]>({ method: "GET", path: "/v1/usage", query, retry: "safe" }),
  };

  readonly apiKeys = {
    /** createApiKey: the secret is in this answer only. */
    create: (options: { name?: string } = {}) => this.#call<Schemas["CreatedApiKey"]>({ method: "POST", path: "/v1/api-keys", body: options, retry: "never" }),
    /** listApiKeys: prefixes, never secrets. */
    list: (query: Query<"listApiKeys"> = {}) => this.#call<Schemas["ApiKeyList"]>({ method: "GET", path: "/v1/api-keys", query, retry: "safe" }),
    /** revokeApiKey */
    revoke: (id: string) => this.#call<null>({ method: "DELETE", path: `/v1/api-keys/${enc(id)}`, retry: "answered", expect: "none" }),
  };

  readonly smtpCredentials = {
    /** createSmtpCredential: the password is in this answer only. */
    create: (options: { username?: string } = {}) =>
      this.#call<Json<"createSmtpCredential", 201>>({ method: "POST", path: "/v1/smtp-credentials", body: options, retry: "never" }),
    /** listSmtpCredentials */
    list: () => this.#call<Schemas["SmtpCredentialList"]>({ method: "GET", path: "/v1/smtp-credentials", retry: "safe" }),
    /** revokeSmtpCredential */
    revoke: (id: string) => this.#call<null>({ method: "DELETE", path: `/v1/smtp-credentials/${enc(id)}`, retry: "answered", expect: "none" }),
  };

  readonly sourceIps = {
    /** getSourceIps */
    get: () => this.#call<Schemas["SourceIps"]>({ method: "GET", path: "/v1/source-ips", retry: "safe" }),
    /** replaceSourceIps: the whole list (at most 5). */
    replace: (ips: string[]) => this.#call<Schemas["SourceIps"]>({ method: "PUT", path: "/v1/source-ips", body: { ips }, retry: "safe" }),
  };

  readonly webhooks = {
    /** createWebhook: the signing secret (`whsec_…`) is in this answer only. */
    create: (body: Body<"createWebhook">) => this.#call<Schemas["CreatedWebhook"]>({ method: "POST", path: "/v1/webhooks", body, retry: "never" }),
    /** listWebhooks */
    list: () => this.#call<Schemas["WebhookList"]>({ method: "GET", path: "/v1/webhooks", retry: "safe" }),
    /** getWebhook: also says why an endpoint was disabled. */
    get: (id: string) => this.#call<Schemas["Webhook"]>({ method: "GET", path: `/v1/webhooks/${enc(id)}`, retry: "safe" }),
    /** updateWebhook: url, event types, enabled. */
    update: (id: string, body: Body<"updateWebhook">) =>
      this.#call<Schemas["Webhook"]>({ method: "PATCH", path: `/v1/webhooks/${enc(id)}`, body, retry: "safe" }),
    /** deleteWebhook */
    delete: (id: string) => this.#call<null>({ method: "DELETE", path: `/v1/webhooks/${enc(id)}`, retry: "answered", expect: "none" }),
    /** rotateWebhookSecret: the old secret keeps signing beside the new one for 24 h. */
    rotateSecret: (id: string) =>
      this.#call<Schemas["RotatedWebhookSecret"]>({ method: "POST", path: `/v1/webhooks/${enc(id)}/rotate-secret`, retry: "never" }),
    /** listWebhookDeliveries: one page of attempts, newest first. */
    deliveries: (id: string, query: Query<"listWebhookDeliveries"> = {}) =>
      this.#call<Schemas["WebhookAttemptPage"]>({ method: "GET", path: `/v1/webhooks/${enc(id)}/deliveries`, query, retry: "safe" }),
    /** replayWebhooks: sends the events of a time range again. */
    replay: (id: string, query: Query<"replayWebhooks">) =>
      this.#call<Schemas["WebhookReplay"]>({ method: "POST", path: `/v1/webhooks/${enc(id)}/replay`, query, retry: "never" }),
  };

  readonly suppressions = {
    /** listSuppressions: one page; pass `next_cursor` back as `cursor`. */
    page: (query: Query<"listSuppressions"> = {}) => this.#call<Schemas["SuppressionPage"]>({ method: "GET", path: "/v1/suppressions", query, retry: "safe" }),
    /** listSuppressions across every page: `for await (const { data, error } of hk.suppressions.list())`. */
    list: () => this.#allPages<Schemas["Suppression"]>((cursor) => this.suppressions.page({ cursor })),
    /** addSuppression: 201 when added, 200 when it was already there. */
    add: (body: Body<"addSuppression">) => this.#call<Schemas["Suppression"]>({ method: "POST", path: "/v1/suppressions", body, retry: "safe" }),
    /** removeSuppression: later sends to the address are attempted again. */
    remove: (address: string) => this.#call<Schemas["DeletedSuppression"]>({ method: "DELETE", path: `/v1/suppressions/${enc(address)}`, retry: "answered" }),
  };

  /** Operator calls: construct the client with `apiKey: HIKYAKU_ADMIN_TOKEN`. */
  readonly admin = {
    accounts: {
      /** createAccount: the account and its first API key. */
      create: (name: string) => this.#call<Schemas["CreatedAccount"]>({ method: "POST", path: "/v1/admin/accounts", body: { name }, retry: "never" }),
      /** listAccounts: one page. */
      list: (query: Query<"listAccounts"> = {}) => this.#call<Schemas["AdminAccountList"]>({ method: "GET", path: "/v1/admin/accounts", query, retry: "safe" }),
      /** updateAccount: quota and time zone. */
      update: (id: string, body: Body<"updateAccount">) =>
        this.#call<Schemas["AccountSettings"]>({ method: "PATCH", path: `/v1/admin/accounts/${enc(id)}`, body, retry: "safe" }),
    },
    destinationPolicies: {
      /** listDestinationPolicies: built-in and overridden policies, with each budget's live state. */
      list: () => this.#call<Json<"listDestinationPolicies", 200>>({ method: "GET", path: "/v1/admin/destination-policies", retry: "safe" }),
      /** getDestinationPolicy: the policy mail to `domain` follows (pass `mx` to see which MX group it joins). */
      get: (domain: string, query: Query<"getDestinationPolicy"> = {}) =>
        this.#call<Json<"getDestinationPolicy", 200>>({ method: "GET", path: `/v1/admin/destination-policies/${enc(domain)}`, query, retry: "safe" }),
      /** setDestinationPolicy: replaces the override; a field left out keeps the built-in value. */
      set: (domain: string, body: Body<"setDestinationPolicy">) =>
        this.#call<Json<"setDestinationPolicy", 200>>({ method: "PUT", path: `/v1/admin/destination-policies/${enc(domain)}`, body, retry: "safe" }),
      /** deleteDestinationPolicy: back to the built-in (or `*`) policy; 404 when there was no override. */
      delete: (domain: string) =>
        this.#call<Json<"deleteDestinationPolicy", 200>>({ method: "DELETE", path: `/v1/admin/destination-policies/${enc(domain)}`, retry: "answered" }),
    },
  };

  async *#allPages<T>(fetchPage: (cursor: string | undefined) => Promise<Result<{ data: unknown[]; next_cursor: string | null }>>): AsyncGenerator<Result<T>> {
    let cursor: string | undefined;
    do {
      const page = await fetchPage(cursor);
      if (page.error) {
        yield page;
        return;
      }
      for (const item of page.data.data) yield { data: item as T, error: null };
      cursor = page.data.next_cursor ?? undefined;
    } while (cursor);
  }
}

/** A send is safe to repeat (and so retried) only with an Idempotency-Key. */
function keyed(options: SendOptions): Pick<RequestSpec, "headers" | "retry"> {
  return options.idempotencyKey ? { headers: { "idempotency-key": options.idempotencyKey }, retry: "safe" } : { retry: "never" };
}
