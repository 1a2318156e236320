// Hikyaku's own reply codes: the outcomes for which no destination said anything. Each
// has a 3-digit code in the right class (4xx: will retry, 5xx: final) and an enhanced
// status code from RFC 3463. The README and the OpenAPI document print this table.

export const serviceCodes = {
  dns_failure: { code: 451, enhanced: "4.4.3", text: "DNS look-up of the destination failed temporarily" },
  no_such_domain: { code: 550, enhanced: "5.1.2", text: "the recipient's domain does not exist (NXDOMAIN)" },
  null_mx: { code: 556, enhanced: "5.1.10", text: "the recipient's domain accepts no mail (null MX, RFC 7505)" },
  no_route: { code: 554, enhanced: "5.4.4", text: "the recipient's domain has no MX and no address" },
  internal_destination: {
    code: 554,
    enhanced: "5.4.4",
    text: "the destination resolves only to internal addresses (loopback, private, link-local); refused",
  },
  connection_failed: { code: 421, enhanced: "4.4.1", text: "could not connect to any destination server" },
  timeout: { code: 421, enhanced: "4.4.2", text: "the destination server stopped answering (timeout)" },
  connection_lost: { code: 421, enhanced: "4.4.2", text: "the connection to the destination was lost" },
  tls_failed: { code: 421, enhanced: "4.7.5", text: "the TLS handshake with the destination failed" },
  tls_required: { code: 421, enhanced: "4.7.4", text: "TLS is required for this domain and could not be used" },
  mta_sts_failed: {
    code: 421,
    enhanced: "4.7.5",
    text: "the destination fails the domain's MTA-STS policy (MX host not in the policy, or no valid certificate); nothing was sent",
  },
  protocol_error: { code: 421, enhanced: "4.5.0", text: "the destination answered outside the SMTP protocol" },
  // Shaping (F10): the recipient waits for its destination's budget. Not an attempt: the
  // attempt count stays, and the detail says when it will be tried.
  shaped: { code: 451, enhanced: "4.4.5", text: "held back by the destination's rate limit (messages per minute); not an attempt" },
  destination_busy: { code: 451, enhanced: "4.4.5", text: "every connection the destination's policy allows is in use; not an attempt" },
  destination_backoff: {
    code: 451,
    enhanced: "4.4.5",
    text: "the destination asked to slow down, so its rate is reduced for a while; not an attempt",
  },
  destination_suspended: { code: 451, enhanced: "4.4.1", text: "the destination refused every connection, so it is paused for a while; not an attempt" },
  internal_error: { code: 451, enhanced: "4.3.0", text: "Hikyaku failed internally; the attempt will be retried" },
  expired: { code: 554, enhanced: "5.4.7", text: "the message's lifetime passed before it could be delivered" },
  cancelled: { code: 554, enhanced: "5.0.0", text: "cancelled by the sender before delivery" },
  suppressed: { code: 550, enhanced: "5.7.1", text: "the recipient is on the account's suppression list; no attempt was made" },
} as const;

export type ServiceCode = keyof typeof serviceCodes;

/** The reply line logged for a service code, e.g. `554 5.4.7 the message's lifetime passed ... (hikyaku: expired)`. */
export function serviceReply(name: ServiceCode, detail?: string): { code: number; enhanced: string; response: string } {
  const c = serviceCodes[name];
  const extra = detail ? `: ${detail}` : "";
  return { code: c.code, enhanced: c.enhanced, response: `${c.code} ${c.enhanced} ${c.text}${extra} (hikyaku: ${name})` };
}

/** The table of service codes as Markdown, for the README and the OpenAPI description of the log. */
export function serviceCodeTableMarkdown(): string {
  const rows = Object.entries(serviceCodes).map(([name, c]) => {
    const kind = c.code >= 500 ? "final" : "temporary (retried)";
    return `| \`${name}\` | ${c.code} | ${c.enhanced} | ${kind} | ${c.text.replace(/\|/g, "\\|")} |`;
  });
  return ["| service_code | code | enhanced | class | meaning |", "| --- | --- | --- | --- | --- |", ...rows].join("\n");
}
