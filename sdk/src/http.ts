// The one request function under every SDK call: fetch only (Node 20+, browsers, edge),
// a timeout per attempt, retries with backoff for calls that are safe to repeat, and every
// outcome as a value: `{ data, error }`, never a throw for an API or network failure.
import type { components } from "./schema.ts";

export const SDK_VERSION = "0.1.0";

type ApiErrorCode = components["schemas"]["Error"]["error"]["code"];

/** What an error result carries: the server's error unchanged, plus the HTTP status (0: no answer). */
export interface HikyakuError {
  code: ApiErrorCode | "network_error" | "timeout" | "bad_response";
  message: string;
  field?: string;
  request_id?: string;
  status: number;
}

export type Result<T> = { data: T; error: null } | { data: null; error: HikyakuError };

export interface ClientOptions {
  /** An API key (`hk_…`), or the operator token for the admin namespace. */
  apiKey: string;
  /** Default http://127.0.0.1:3000, the address `npm start` listens on. */
  baseUrl?: string;
  /** Per attempt, in milliseconds (default 30000). */
  timeoutMs?: number;
  /** Repeats after the first attempt, for calls safe to repeat (default 2). */
  maxRetries?: number;
  /** Appended to the User-Agent, e.g. "my-app/1.2". */
  userAgent?: string;
  /** Another fetch (a runtime's own, or one with a proxy); default globalThis.fetch. */
  fetch?: typeof fetch;
}

/**
 * When a failed attempt may be repeated. `safe`: GET, PUT and keyed POSTs, where a repeat
 * cannot do a thing twice. `answered`: a repeat only after the server said it did nothing
 * (429, 503); a cancel cut off by the network may have happened, and its repeat would say 409.
 */
export type RetryPolicy = "safe" | "answered" | "never";

export interface RequestSpec {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string | undefined>;
  retry: RetryPolicy;
  /** How to read a 2xx answer: JSON (default), nothing (204), or the body as a stream. */
  expect?: "json" | "none" | "stream";
  accept?: string;
}

const RETRY_STATUS = new Set([429, 503]);

export class Transport {
  readonly #o: Required<Omit<ClientOptions, "userAgent">> & { userAgent: string };

  constructor(options: ClientOptions) {
    this.#o = {
      apiKey: options.apiKey,
      baseUrl: (options.baseUrl ?? "http://127.0.0.1:3000").replace(/\/+$/, ""),
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 2,
      userAgent: `hikyaku-sdk/${SDK_VERSION}${options.userAgent ? ` ${options.userAgent}` : ""}`,
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    };
  }

  async request<T>(spec: RequestSpec): Promise<Result<T>> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#attempt<T>(spec);
      const retryable = outcome.retryable && attempt < this.#o.maxRetries && canRepeat(spec.retry, outcome);
      if (!retryable) return outcome.result;
      await sleep(backoff(attempt, outcome.retryAfter));
    }
  }

  async #attempt<T>(spec: RequestSpec): Promise<Attempt<T>> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#o.timeoutMs);
    let res: Response;
    try {
      res = await this.#o.fetch(this.#url(spec), {
        method: spec.method,
        headers: this.#headers(spec),
        body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
        signal: controller.signal,
      });
    } catch (err) {
      clearTimeout(timer);
      const timedOut = controller.signal.aborted;
      return {
        result: failure(
          timedOut ? "timeout" : "network_error",
          timedOut ? `No answer within ${this.#o.timeoutMs} ms.` : `The request did not reach Hikyaku: ${describe(err)}`,
          0,
        ),
        retryable: true,
        answered: false,
      };
    }
    try {
      return await read<T>(res, spec);
    } catch (err) {
      // The body broke off (or timed out) after the status line: the server did answer.
      const timedOut = controller.signal.aborted;
      return {
        result: failure(timedOut ? "timeout" : "network_error", `The answer broke off: ${describe(err)}`, res.status),
        retryable: true,
        answered: false,
      };
    } finally {
      // A stream's timeout covers the wait for its answer to begin, not the whole download.
      clearTimeout(timer);
    }
  }

  #url(spec: RequestSpec): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return `${this.#o.baseUrl}${spec.path}${qs ? `?${qs}` : ""}`;
  }

  #headers(spec: RequestSpec): Record<string, string> {
    const h: Record<string, string> = { authorization: `Bearer ${this.#o.apiKey}`, accept: spec.accept ?? "application/json", "user-agent": this.#o.userAgent };
    if (spec.body !== undefined) h["content-type"] = "application/json";
    for (const [k, v] of Object.entries(spec.headers ?? {})) if (v !== undefined) h[k] = v;
    return h;
  }
}

interface Attempt<T> {
  result: Result<T>;
  retryable: boolean;
  /** Whether the server answered with a status that says it did nothing (429, 503). */
  answered: boolean;
  retryAfter?: number;
}

const canRepeat = (policy: RetryPolicy, a: Attempt<unknown>) => policy === "safe" || (policy === "answered" && a.answered);

async function read<T>(res: Response, spec: RequestSpec): Promise<Attempt<T>> {
  if (res.ok) {
    if (spec.expect === "stream") {
      if (!res.body) return { result: failure("bad_response", "The answer has no body.", res.status), retryable: false, answered: false };
      return { result: { data: res.body as T, error: null }, retryable: false, answered: false };
    }
    const text = await res.text();
    if (spec.expect === "none") return { result: { data: null as T, error: null }, retryable: false, answered: false };
    const json = parse(text);
    if (json === undefined)
      return { result: failure("bad_response", `Hikyaku answered ${res.status} with a body that is not JSON.`, res.status), retryable: false, answered: false };
    return { result: { data: json as T, error: null }, retryable: false, answered: false };
  }
  const text = await res.text();
  const body = parse(text) as { error?: Partial<HikyakuError> } | undefined;
  const e = body?.error;
  const retryable = RETRY_STATUS.has(res.status);
  const retryAfter = retryAfterMs(res.headers.get("retry-after"));
  if (!e || typeof e.code !== "string" || typeof e.message !== "string") {
    return {
      result: failure("bad_response", `Hikyaku answered ${res.status} without its error body.`, res.status),
      retryable,
      answered: retryable,
      retryAfter,
    };
  }
  const error: HikyakuError = { code: e.code as HikyakuError["code"], message: e.message, status: res.status };
  if (typeof e.field === "string") error.field = e.field;
  if (typeof e.request_id === "string") error.request_id = e.request_id;
  return { result: { data: null, error }, retryable, answered: retryable, retryAfter };
}

function failure(code: HikyakuError["code"], message: string, status: number): Result<never> {
  return { data: null, error: { code, message, status } };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const describe = (err: unknown) => {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
};

/** Retry-After in seconds (what Hikyaku sends) or as an HTTP date; capped at a minute. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 60_000) : undefined;
}

/** 250 ms, 500 ms, 1 s, … up to 8 s, with jitter so that many clients do not retry in step. */
const backoff = (attempt: number, retryAfter?: number) => retryAfter ?? Math.min(250 * 2 ** attempt, 8000) * (0.5 + Math.random() / 2);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
