// POST /v1/webhooks/{id}/replay?since=…&until=…: sends a time range of the log again.
import { createRoute, z } from "@hono/zod-openapi";
import { now } from "../../clock.ts";
import { AppError } from "../../errors.ts";
import { MAX_REPLAY, replayEvents } from "../../webhooks/replay.ts";
import { router } from "../context.ts";
import { bearerAuth, errorResponses } from "../openapi-parts.ts";
import { WebhookIdParam } from "./webhook-schemas.ts";

const route = createRoute({
  method: "post",
  path: "/v1/webhooks/{id}/replay",
  operationId: "replayWebhooks",
  tags: ["Webhooks"],
  summary: "Replay a time range of events to a webhook endpoint",
  description: `Queues every logged event in [since, until) of the types the endpoint wants, in log order, with their original webhook-id; at most ${MAX_REPLAY} per call.`,
  security: bearerAuth,
  request: {
    params: WebhookIdParam,
    query: z.object({
      since: z.string().max(64).openapi({ description: "RFC 3339 time.", example: "2026-12-01T09:00:00+09:00" }),
      until: z.string().max(64).optional().openapi({ description: "RFC 3339 time; default now." }),
    }),
  },
  responses: {
    202: {
      description: "Queued.",
      content: { "application/json": { schema: z.object({ queued: z.number().int() }).openapi("WebhookReplay"), example: { queued: 42 } } },
    },
    ...errorResponses(401, 404, 409, 422),
  },
});

function time(text: string | undefined, field: string): Date | undefined {
  if (text === undefined) return undefined;
  const d = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text) ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime()))
    throw new AppError("validation_error", `${field}: "${text}" is not an RFC 3339 time such as 2026-12-01T09:00:00+09:00.`, { field });
  return d;
}

export const webhooksReplay = router().openapi(route, async (c) => {
  const q = c.req.valid("query");
  const since = time(q.since, "since") as Date;
  const until = time(q.until, "until") ?? now();
  const queued = await replayEvents(c.get("deps").db, c.get("account").id, c.req.valid("param").id, since, until);
  return c.json({ queued }, 202);
});
