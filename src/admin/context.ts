// What every console handler can reach: the API's dependencies, the signed-in session,
// the user's language; and the few helpers every page uses.
import type { Context } from "hono";
import type { ApiDeps } from "../api/context.ts";
import { AppError } from "../errors.ts";
import { appErrorText, type Lang } from "./i18n.ts";
import type { Session } from "./session.ts";

export type ConsoleEnv = { Variables: { deps: ApiDeps; requestId: string; session: Session; lang: Lang } };
export type ConsoleContext = Context<ConsoleEnv>;

/** A notice above a page's content: what just happened, or why it did not. */
export interface Notice {
  kind: "ok" | "error";
  text: string;
  /** The answer's HTTP status; an error notice without one answers 422. */
  status?: number;
}

/** The signed-in account's id; operator sessions never reach account pages (see console.ts). */
export const accountOf = (c: ConsoleContext): string => c.get("session").accountId ?? "";

/** A form's fields as strings (a repeated field: its last value; files are ignored). */
export async function formFields(c: ConsoleContext): Promise<Record<string, string>> {
  const body = await c.req.parseBody({ all: true });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    const last = Array.isArray(v) ? v[v.length - 1] : v;
    if (typeof last === "string") out[k] = last;
  }
  return out;
}

/** Runs a form's action; an AppError becomes the page's error notice, and its HTTP status. */
export async function attempt<T>(fn: () => Promise<T>): Promise<{ ok: T } | { error: AppError }> {
  try {
    return { ok: await fn() };
  } catch (err) {
    if (err instanceof AppError && err.status < 500) return { error: err };
    throw err;
  }
}

/** An API error as the page's notice: the sentence in the user's language, the API's own status. */
export const errorNotice = (lang: Lang, err: AppError): Notice => ({ kind: "error", text: appErrorText(lang, err), status: err.status });
