// The shapes the destination-policy routes share (F10): a policy as the operator sees
// it (settings in force, where they come from, live state), the settings a PUT takes,
// and the path's domain as it is stored.
import { z } from "@hono/zod-openapi";
import { normaliseDomain } from "../../accept/addresses.ts";
import {
  builtInPolicy,
  canonicalName,
  canonicalSuffix,
  DEFAULT_SETTINGS,
  type DestinationPolicy,
  listPolicies,
  type OverrideSettings,
  type Overrides,
  type ResolvedPolicy,
  resolvePolicy,
  SETTING_FIELDS,
} from "../../delivery/destination-policy.ts";
import type { LiveState } from "../../delivery/shaping-state.ts";
import { AppError } from "../../errors.ts";

const maxConnections = z.number().int().min(1).max(1000);
const messagesPerMinute = z.number().int().min(1).max(1_000_000).nullable();
const recipientsPerTransaction = z.number().int().min(1).max(1000);
const messagesPerConnection = z.number().int().min(1).max(100_000);
const idleCloseSeconds = z.number().int().min(1).max(3600);
const tls = z.enum(["opportunistic", "required", "mta-sts"]);

const words = {
  max_connections: "Connections open at once to the policy's destinations, counted across every worker process. 1-1000.",
  messages_per_minute: "Messages (SMTP transactions) per minute, across every worker process; null: no limit. 1-1000000 or null.",
  recipients_per_transaction: "RCPT TO per transaction; a message with more recipients goes in several transactions. 1-1000.",
  messages_per_connection: "Transactions over one connection before it is closed and a new one opened. 1-100000.",
  idle_close_seconds: "An idle connection is closed after this many seconds. 1-3600.",
  tls: "`opportunistic`: STARTTLS when offered, plain text only if the handshake fails. `required`: never plain text; a failure defers with the `tls_required` code. `mta-sts`: follow the domain's MTA-STS policy (RFC 8461), never downgrading.",
  mx_suffixes:
    "MX host suffixes (`.google.com`): a recipient domain whose MX host ends so shares this policy and its budget. Each is a domain name of two labels or more; a leading dot is added.",
};

/** The body of PUT: every field optional; the ones left out keep the built-in value (or `*`'s). */
export const PolicyInputSchema = z
  .strictObject({
    max_connections: maxConnections.optional().openapi({ description: words.max_connections, example: 2 }),
    messages_per_minute: messagesPerMinute.optional().openapi({ description: words.messages_per_minute, example: 120 }),
    recipients_per_transaction: recipientsPerTransaction.optional().openapi({ description: words.recipients_per_transaction, example: 10 }),
    messages_per_connection: messagesPerConnection.optional().openapi({ description: words.messages_per_connection, example: 10 }),
    idle_close_seconds: idleCloseSeconds.optional().openapi({ description: words.idle_close_seconds, example: 5 }),
    tls: tls.optional().openapi({ description: words.tls, example: "opportunistic" }),
    mx_suffixes: z
      .array(z.string().min(2).max(253))
      .max(20)
      .optional()
      .openapi({ description: `${words.mx_suffixes} Up to 20; replaces the built-in list.`, example: [".docomo.ne.jp"] }),
  })
  .openapi("DestinationPolicyInput");

const SettingsSchema = z
  .object({
    max_connections: maxConnections.openapi({ description: words.max_connections, example: 3 }),
    messages_per_minute: messagesPerMinute.openapi({ description: words.messages_per_minute, example: 180 }),
    recipients_per_transaction: recipientsPerTransaction.openapi({ description: words.recipients_per_transaction, example: 10 }),
    messages_per_connection: messagesPerConnection.openapi({ description: words.messages_per_connection, example: 10 }),
    idle_close_seconds: idleCloseSeconds.openapi({ description: words.idle_close_seconds, example: 5 }),
    tls: tls.openapi({ description: words.tls, example: "opportunistic" }),
  })
  .openapi("DestinationPolicySettings");

const LiveStateSchema = z
  .object({
    key: z.string().openapi({ description: "The budget: the policy's domain, or for `*` `*:<MX group>`.", example: "docomo.ne.jp" }),
    effective_messages_per_minute: z.number().nullable().openapi({ description: "The rate in force now, after backoff; null: no limit.", example: 90 }),
    sent_last_minute: z.number().int().openapi({ description: "Messages sent in the last 60 s, all processes together.", example: 41 }),
    rate_factor: z.number().openapi({ description: "1 normally; halved by each slow-down reply, recovering over time.", example: 0.5 }),
    backoff_until: z
      .string()
      .nullable()
      .openapi({ description: "The rate is backed off until then (ISO 8601), or null.", example: "2026-12-01T10:15:00.000Z" }),
    suspended_until: z
      .string()
      .nullable()
      .openapi({ description: "Nothing is sent until then: every connection was refused (ISO 8601), or null.", example: null }),
    connections_in_use: z.number().int().openapi({ description: "Connections open now, all processes together.", example: 2 }),
  })
  .openapi("DestinationLiveState");

export const PolicyViewSchema = z
  .object({
    domain: z.string().openapi({ description: "The recipient domain the policy is named by, or `*` for every other domain.", example: "docomo.ne.jp" }),
    aliases: z.array(z.string()).openapi({ description: "Other domains that are this policy by name, sharing its budget.", example: [] }),
    source: z.enum(["built-in", "override", "built-in+override"]).openapi({
      description:
        "`built-in`: Hikyaku's own numbers. `override`: a domain only the operator named (fields not set follow `*`). `built-in+override`: built-in, with the operator's fields on top.",
      example: "built-in+override",
    }),
    settings: SettingsSchema.openapi({ description: "The settings in force: the override's fields over the built-in (or `*`) values." }),
    override: z
      .union([PolicyInputSchema, z.null()])
      .openapi({ description: "What the operator set with PUT, as given; null: nothing.", example: { messages_per_minute: 120 } }),
    mx_suffixes: z.array(z.string()).openapi({ description: words.mx_suffixes, example: [".docomo.ne.jp"] }),
    basis: z.string().openapi({ description: "Where the built-in numbers come from, or that they are a starting guess." }),
    live: z.array(LiveStateSchema).openapi({
      description:
        "The live state of the policy's budget: at most one entry (key = the domain) for a named policy; for `*`, one per MX group that has state. Empty when nothing was sent lately.",
    }),
  })
  .openapi("DestinationPolicy");

export const PolicyLookupSchema = z
  .object({
    domain: z.string().openapi({ description: "The domain asked about, as stored: lower case, IDNs as A-labels, no trailing dot.", example: "ezweb.ne.jp" }),
    via: z.enum(["domain", "alias", "mx_suffix", "default"]).openapi({
      description: "How the domain finds its policy: by its own name, as an alias of it, by an MX host's suffix (with `mx`), or the `*` default.",
      example: "alias",
    }),
    key: z.string().openapi({ description: "The budget its mail counts against.", example: "au.com" }),
    policy: PolicyViewSchema,
  })
  .openapi("DestinationPolicyLookup");

export type PolicyView = z.infer<typeof PolicyViewSchema>;

export const DOCOMO_EXAMPLE: PolicyView = {
  domain: "docomo.ne.jp",
  aliases: [],
  source: "built-in+override",
  settings: {
    max_connections: 3,
    messages_per_minute: 120,
    recipients_per_transaction: 10,
    messages_per_connection: 10,
    idle_close_seconds: 5,
    tls: "opportunistic",
  },
  override: { messages_per_minute: 120 },
  mx_suffixes: [".docomo.ne.jp"],
  basis:
    "docomo's notice to bulk senders (nttdocomo.co.jp, imode_mail/notice/mass_send) asks for a moderate number of SMTP sessions and at most 100 recipients per SMTP session (…)",
  live: [
    {
      key: "docomo.ne.jp",
      effective_messages_per_minute: 60,
      sent_last_minute: 58,
      rate_factor: 0.5,
      backoff_until: "2026-12-01T10:15:00.000Z",
      suspended_until: null,
      connections_in_use: 3,
    },
  ],
};

export const DEFAULT_EXAMPLE: PolicyView = {
  domain: "*",
  aliases: [],
  source: "built-in",
  settings: { ...DEFAULT_SETTINGS },
  override: null,
  mx_suffixes: [],
  basis: "Every other domain, one budget per MX group. (…)",
  live: [
    {
      key: "*:mail.protection.outlook.com",
      effective_messages_per_minute: null,
      sent_last_minute: 212,
      rate_factor: 1,
      backoff_until: null,
      suspended_until: null,
      connections_in_use: 4,
    },
    {
      key: "*:hosting.example",
      effective_messages_per_minute: null,
      sent_last_minute: 7,
      rate_factor: 1,
      backoff_until: null,
      suspended_until: null,
      connections_in_use: 1,
    },
  ],
};

/** A policy as the API shows it; `live` holds the states of its budget (`key`; for `*`, every `*:` key). */
export function policyView(policy: DestinationPolicy, builtIn: boolean, overrides: Overrides, states: LiveState[], key = policy.domain): PolicyView {
  const over = overrides.get(policy.domain) ?? null;
  const source = !over ? "built-in" : builtIn ? "built-in+override" : "override";
  const mine = key === "*" ? (s: LiveState) => s.key.startsWith("*:") : (s: LiveState) => s.key === key;
  return {
    domain: policy.domain,
    aliases: policy.aliases ?? [],
    source,
    settings: Object.fromEntries(SETTING_FIELDS.map((f) => [f, policy[f]])) as PolicyView["settings"],
    override: over,
    mx_suffixes: policy.mx_suffixes,
    basis: policy.basis,
    live: states.filter(mine).map(liveView),
  };
}

/** What mail to `domain` (through `mx`) is shaped by now; `*` itself is looked up as the default policy. */
export function lookupView(domain: string, mx: string[], overrides: Overrides, states: LiveState[]) {
  const r: ResolvedPolicy = domain === "*" ? { ...resolvePolicy("*", [], overrides), key: "*" } : resolvePolicy(domain, mx, overrides);
  const builtIn = builtInPolicy(r.policy.domain) !== undefined || r.policy.domain === "*";
  return { domain, via: r.via ?? "domain", key: r.key, policy: policyView(r.policy, builtIn, overrides, states, r.key) };
}

function liveView(s: LiveState): PolicyView["live"][number] {
  return {
    key: s.key,
    effective_messages_per_minute: s.effective_messages_per_minute,
    sent_last_minute: s.sent_last_minute,
    rate_factor: s.rate_factor,
    backoff_until: s.backoff_until?.toISOString() ?? null,
    suspended_until: s.suspended_until?.toISOString() ?? null,
    connections_in_use: s.connections_in_use,
  };
}

/** The `{domain}` path parameter. */
export const DomainParam = z.object({
  domain: z
    .string()
    .max(300)
    .openapi({
      param: { name: "domain", in: "path" },
      description:
        "A recipient domain (any case, IDNs in Unicode or as A-labels, a trailing dot allowed), or `*` for every domain without a policy of its own.",
      example: "docomo.ne.jp",
    }),
});

/** The path's domain as stored: `*`, or lower-case ASCII (IDN A-labels) without a trailing dot. */
export function policyDomain(input: string): string {
  if (input === "*") return "*";
  const name = normaliseDomain(input.trim().replace(/\.$/, ""));
  if (!name) {
    throw new AppError(
      "validation_error",
      `domain: "${input.slice(0, 80)}" is not a domain name (labels of 1-63 letters, digits or hyphens, at least two of them) nor \`*\`.`,
      { field: "domain" },
    );
  }
  return canonicalName(name);
}

/** PUT and DELETE name the policy itself: an alias is refused, with the name to use. */
export function refuseAlias(domain: string): void {
  const p = builtInPolicy(domain);
  if (p && p.domain !== domain) {
    throw new AppError(
      "validation_error",
      `domain: ${domain} shares the ${p.domain} policy and budget; change it at /v1/admin/destination-policies/${p.domain}.`,
      { field: "domain" },
    );
  }
}

/** Every policy in force under the stored overrides (built-in, overridden, the operator's own, `*`). */
function policiesOf(current: Overrides): DestinationPolicy[] {
  return listPolicies(current).map((e) => e.policy);
}

/** The override as stored: the fields given, MX suffixes in their canonical form. */
export function overrideFrom(domain: string, body: z.infer<typeof PolicyInputSchema>, current: Overrides): OverrideSettings {
  const { mx_suffixes, ...settings } = body;
  if (mx_suffixes === undefined) {
    checkRestoredSuffixes(domain, current, "a PUT without mx_suffixes");
    return settings;
  }
  if (domain === "*") {
    throw new AppError("validation_error", "mx_suffixes: the `*` policy has no MX group of its own; give the suffixes to a named policy.", {
      field: "mx_suffixes",
    });
  }
  const others = policiesOf(current);
  const suffixes = mx_suffixes.map((s, i) => checkSuffix(s, `mx_suffixes[${i}]`, domain, others));
  return { ...settings, mx_suffixes: [...new Set(suffixes)] };
}

/**
 * A built-in policy whose override stops naming its MX suffixes (a PUT without them, or a
 * DELETE) gets its built-in ones back: none of them may group hosts into another policy
 * meanwhile, or two policies would claim the same hosts.
 */
export function checkRestoredSuffixes(domain: string, current: Overrides, what: string): void {
  const others = policiesOf(current);
  for (const suffix of builtInPolicy(domain)?.mx_suffixes ?? []) {
    const owner = others.find((p) => p.domain !== domain && p.mx_suffixes.includes(suffix));
    if (owner) {
      throw new AppError(
        "validation_error",
        `mx_suffixes: ${what} gives ${domain} back its built-in ${suffix}, which groups hosts into the ${owner.domain} policy now; a suffix belongs to one policy. Take it out of ${owner.domain} first, or give ${domain} its mx_suffixes without it.`,
        { field: "mx_suffixes" },
      );
    }
  }
}

function checkSuffix(input: string, field: string, domain: string, others: DestinationPolicy[]): string {
  const name = normaliseDomain(input.trim().replace(/^\./, "").replace(/\.$/, ""));
  if (!name) {
    throw new AppError("validation_error", `${field}: "${input.slice(0, 80)}" is not an MX host suffix such as .mail.example.net (two labels or more).`, {
      field,
    });
  }
  const suffix = canonicalSuffix(name);
  const owner = others.find((p) => p.domain !== domain && p.mx_suffixes.includes(suffix));
  if (owner)
    throw new AppError("validation_error", `${field}: ${suffix} already groups hosts into the ${owner.domain} policy; a suffix belongs to one policy.`, {
      field,
    });
  return suffix;
}
