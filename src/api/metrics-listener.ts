// GET /metrics for a process that runs no API (HIKYAKU_ROLES=worker or smtp): its
// counters live in its own memory, so Prometheus scrapes each process. Only the metrics
// route is served, with the same token rule; every other path answers 404.
import type { AddressInfo } from "node:net";
import { Hono } from "hono";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { AppError, errorBody } from "../errors.ts";
import type { ApiEnv } from "./context.ts";
import { metricsRoute } from "./routes/metrics.ts";
import { serveApi } from "./serve-api.ts";

export async function listenForMetrics(config: Config, db: Db, port: number): Promise<{ url: string; close: () => Promise<void> }> {
  const app = new Hono<ApiEnv>();
  app.use("*", async (c, next) => {
    c.set("deps", { db, config });
    c.set("requestId", "metrics");
    await next();
  });
  app.route("/", metricsRoute);
  const notFound = (method: string, path: string) => errorBody(new AppError("not_found", `No route ${method} ${path}.`), "metrics");
  app.notFound((c) => c.json(notFound(c.req.method, c.req.path), 404));
  // The route answers a wrong or missing token with the same 404 as an unknown path.
  app.onError((_err, c) => c.json(notFound(c.req.method, c.req.path), 404));
  return new Promise((resolve, reject) => {
    const server = serveApi({ fetch: app.fetch, port, hostname: config.HIKYAKU_HOST }, (info: AddressInfo) => {
      const host = info.address.includes(":") ? `[${info.address}]` : info.address;
      resolve({ url: `http://${host}:${info.port}/metrics`, close: () => new Promise<void>((r) => server.close(() => r())) });
    });
    server.once("error", (err) =>
      reject(new Error(`Could not listen for metrics on ${config.HIKYAKU_HOST}:${port}; set HIKYAKU_METRICS_PORT.`, { cause: err })),
    );
  });
}
