// What a log query asks for: one account's delivery or reception events, narrowed by
// any mix of filters. Every filter is exact (indexed); `recipientDomain` matches every
// address at that domain.

export const DELIVERY_EVENTS = ["delivered", "deferred", "bounced", "expired", "cancelled", "suppressed"] as const;
export const RECEPTION_EVENTS = ["accepted", "refused"] as const;

export type LogType = "delivery" | "reception";

export interface LogFilter {
  accountId: string;
  type: LogType;
  /** Events at or after this time. */
  since?: Date;
  /** Events before this time. */
  until?: Date;
  /** One or several event names; for reception events, accepted and/or refused. */
  events?: string[];
  recipient?: string;
  /** ASCII (punycode), lower case. */
  recipientDomain?: string;
  envelopeSender?: string;
  sourceIp?: string;
  channel?: "http" | "smtp";
  messageId?: string;
  tag?: string;
}
