// Liveness and readiness for load balancers and orchestrators.
import { createRoute, z } from "@hono/zod-openapi";
import { router } from "../context.ts";

const Health = z.object({ status: z.enum(["ok", "unavailable"]), database: z.enum(["ok", "unreachable"]).optional() }).openapi("Health");

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["Operations"],
  summary: "Liveness: the process answers",
  responses: { 200: { description: "Alive.", content: { "application/json": { schema: Health } } } },
});

const readyz = createRoute({
  method: "get",
  path: "/readyz",
  tags: ["Operations"],
  summary: "Readiness: the database answers",
  responses: {
    200: { description: "Ready.", content: { "application/json": { schema: Health } } },
    503: { description: "The database does not answer.", content: { "application/json": { schema: Health } } },
  },
});

export const health = router()
  .openapi(healthz, (c) => c.json({ status: "ok" as const }, 200))
  .openapi(readyz, async (c) => {
    try {
      await Promise.race([c.get("deps").db.sql`select 1`, new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 2000).unref())]);
      return c.json({ status: "ok" as const, database: "ok" as const }, 200);
    } catch {
      return c.json({ status: "unavailable" as const, database: "unreachable" as const }, 503);
    }
  });
