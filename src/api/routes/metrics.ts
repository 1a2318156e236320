// GET /metrics in the Prometheus text format, for operators: only when
// HIKYAKU_METRICS_TOKEN is set and only to that bearer token; everyone else gets the
// same 404 as an unknown route, so the endpoint's existence is not revealed. Not part of
// the OpenAPI document: its format is Prometheus's, not the API's JSON.
import { timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import { AppError } from "../../errors.ts";
import { log } from "../../logger.ts";
import { encodeFamilies, type Family } from "../../metrics/exposition.ts";
import { allInstrumentFamilies } from "../../metrics/instruments.ts";
import { processFamilies } from "../../metrics/process-metrics.ts";
import { readPoliciesInForce } from "../../delivery/shaping-state.ts";
import { queueFamilies } from "../../metrics/queue-metrics.ts";
import { shapingFamilies } from "../../metrics/shaping-metrics.ts";
import { webhookFamilies } from "../../metrics/webhook-metrics.ts";
import type { ApiEnv } from "../context.ts";

export const metricsRoute = new Hono<ApiEnv>().get("/metrics", async (c) => {
  const token = c.get("deps").config.HIKYAKU_METRICS_TOKEN;
  const given = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
  if (!token || !sameSecret(given, token)) throw new AppError("not_found", `No route ${c.req.method} ${c.req.path}.`);
  let fromDatabase: Family[] = [];
  let up = 1;
  try {
    const db = c.get("deps").db;
    fromDatabase = (await Promise.all([queueFamilies(db), webhookFamilies(db), readPoliciesInForce(db).then(({ states }) => shapingFamilies(states))])).flat();
  } catch (err) {
    // The process's own metrics still answer; the database's are left out, not faked.
    log.warn("metrics: database unavailable", { err: err as Error });
    up = 0;
  }
  const database: Family = { name: "hikyaku_database_up", help: "1 when the scrape could read the database, else 0.", type: "gauge", samples: [{ value: up }] };
  const body = encodeFamilies([database, ...fromDatabase, ...(await allInstrumentFamilies()), ...processFamilies()]);
  return c.body(body, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
});

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}
