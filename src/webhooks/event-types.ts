// The event types an endpoint can subscribe to: the delivery log's events (with
// `suppressed`, the suppression list's final event) and refused intake attempts.
export const WEBHOOK_EVENT_TYPES = ["delivered", "deferred", "bounced", "expired", "cancelled", "suppressed", "reception.refused"] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
