// Liveness and readiness for load balancers and orchestrators.
import { createRoute, z } from "@hono/zod-openapi";
import { router } from "../context.ts";
import { errorResponse, noAuth } from "../openapi-parts.ts";

const Health = z
  .object({
    status: z.enum(["ok", "unavailable"]),
    database: z.enum(["ok", "unreachable"]).optional(),
    reason: z
      .string()
      .optional()
      .openapi({ description: "When unavailable: what is wrong, in a sentence (e.g. the embedded PostgreSQL exited and is being started again)." }),
  })
  .openapi("Health");

/** A malformed request (an oversized body, say) gets the error body like any other route. */
const clientError = { ...errorResponse(413), description: "A malformed request, answered with the error body (for example 413 for an oversized body)." };

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  operationId: "checkLiveness",
  tags: ["Operations"],
  summary: "Liveness: the process answers",
  description: "Answers while the process runs, whatever the database does. No credentials.",
  security: noAuth,
  responses: { 200: { description: "Alive.", content: { "application/json": { schema: Health, example: { status: "ok" } } } }, "4XX": clientError },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  operationId: "checkReadiness",
  tags: ["Operations"],
  summary: "Readiness: the database answers",
  description: "Answers 200 while the database answers within two seconds; send traffic elsewhere on 503. No credentials.",
  security: noAuth,
  responses: {
    200: { description: "Ready.", content: { "application/json": { schema: Health, example: { status: "ok", database: "ok" } } } },
    "4XX": clientError,
    503: {
      description: "The database does not answer.",
      content: { "application/json": { schema: Health, example: { status: "unavailable", database: "unreachable" } } },
    },
  },
});

export const health = router()
  .openapi(healthz, (c) => c.json({ status: "ok" as const }, 200))
  .openapi(readyz, async (c) => {
    const deps = c.get("deps");
    try {
      await Promise.race([deps.db.sql`select 1`, new Promise((_, reject) => setTimeout(() => reject(new Error("no answer within 2 s")), 2000).unref())]);
      return c.json({ status: "ok" as const, database: "ok" as const }, 200);
    } catch (err) {
      // The embedded server's own account of what happened says more than the connection error.
      const reason = deps.databaseProblem?.() ?? `The database does not answer: ${(err as Error).message}`;
      return c.json({ status: "unavailable" as const, database: "unreachable" as const, reason }, 503);
    }
  });
