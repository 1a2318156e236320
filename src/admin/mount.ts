// Mounts the /admin console without loading it: its pages are imported on the first
// /admin request, so processes that never serve one (workers, the CLI) do not pay for
// loading them at start-up.
import { Hono } from "hono";
import type { Context } from "hono";
import type { ApiEnv } from "../api/context.ts";

type ConsoleApp = { fetch(request: Request, env: unknown): Response | Promise<Response> };

export function adminConsole(): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  let loaded: Promise<ConsoleApp> | undefined;
  const serve = async (c: Context<ApiEnv>) => {
    loaded ??= import("./console.tsx").then((m) => m.consoleApp());
    const inner = await loaded;
    // The API's dependencies and request id travel in the env; the Node server's own env (the socket) stays.
    return inner.fetch(c.req.raw, { ...(c.env as object), deps: c.get("deps"), requestId: c.get("requestId") });
  };
  app.all("/admin", serve);
  app.all("/admin/*", serve);
  return app;
}
