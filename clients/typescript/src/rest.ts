import type { paths, operations as Operations } from "./generated/rest.js";
import { routes, type OperationId } from "./generated/operations.js";
import { ChatError, expired } from "./errors.js";

/** Gives a user token; `refresh` asks for a new one (the last was refused). */
export type TokenProvider = (refresh: boolean) => string | Promise<string>;

/** One token for REST and socket, asked for again only when refused. */
export class Tokens {
  private current?: Promise<string>;
  constructor(private readonly provider: TokenProvider) {}
  get(refresh = false): Promise<string> {
    if (refresh || !this.current) {
      const next = Promise.resolve(this.provider(refresh));
      // A failed provider call is not kept: the next ask tries again.
      next.catch(() => {
        if (this.current === next) this.current = undefined;
      });
      this.current = next;
    }
    return this.current;
  }
}

type Json<T> = T extends { content: { "application/json": infer J } } ? J : undefined;
type Success<R> = {
  [K in keyof R]: K extends 200 | 201 | 202 | 204 ? Json<R[K]> : never;
}[keyof R];
type Params<O> = O extends { parameters: infer P } ? P : {};
type BodyOf<O> = O extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;

/** What a call takes: path and query parameters, and the JSON body. */
export type Init<O> = {
  path?: Params<O> extends { path?: infer P } ? P : never;
  query?: Params<O> extends { query?: infer Q } ? Q : never;
  body?: BodyOf<O>;
};
/** What a call answers (its 2xx JSON body). */
export type Reply<O> = O extends { responses: infer R } ? Success<R> : unknown;

type Method = "get" | "post" | "put" | "patch" | "delete";
type OpAt<P extends keyof paths, M extends Method> = paths[P][M];

/** Where a response left the caller's rate limit. */
export interface Quota {
  limit: number;
  remaining: number;
  /** Epoch seconds when the minute ends. */
  reset: number;
}

export interface RestOptions {
  /** The API's base, as `…/api/v1`. */
  url: string;
  apiKey: string;
  tokens: Tokens;
  fetch?: typeof fetch;
}

/** Every REST operation, typed from the OpenAPI document. */
export class Rest {
  /** The rate limit as the last response reported it. */
  quota?: Quota;
  private readonly fetcher: typeof fetch;
  constructor(private readonly options: RestOptions) {
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** An operation by its OpenAPI operation id. */
  call<Id extends OperationId>(id: Id, init?: Init<Operations[Id]>): Promise<Reply<Operations[Id]>> {
    const [method, path] = routes[id];
    return this.request(method, path, init as Init<unknown>) as Promise<Reply<Operations[Id]>>;
  }

  /** An operation by method and path (`"get", "/api/v1/channels/{id}"`). */
  at<P extends keyof paths, M extends Method>(
    method: M,
    path: P,
    init?: Init<OpAt<P, M>>,
  ): Promise<Reply<OpAt<P, M>>> {
    return this.request(method.toUpperCase(), path as string, init as Init<unknown>) as Promise<Reply<OpAt<P, M>>>;
  }

  /** A request; a refused token is replaced once, transparently. */
  async request(method: string, path: string, init: Init<unknown> = {}): Promise<unknown> {
    const { url, apiKey, tokens } = this.options;
    const params = (init.path ?? {}) as Record<string, unknown>;
    let target = url + path.replace(/^\/api\/v1/, "").replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(String(params[k])));
    const query = Object.entries((init.query ?? {}) as Record<string, unknown>).filter(([, v]) => v !== undefined && v !== null);
    if (query.length) target += "?" + new URLSearchParams(query.map(([k, v]) => [k, String(v)]));
    for (let attempt = 0; ; attempt++) {
      const token = await tokens.get(attempt > 0);
      const headers: Record<string, string> = { "X-Api-Key": apiKey, Authorization: `Bearer ${token}` };
      if (init.body !== undefined) headers["Content-Type"] = "application/json";
      const response = await this.fetcher(target, {
        method,
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const limit = response.headers.get("x-ratelimit-limit");
      if (limit) {
        this.quota = {
          limit: +limit,
          remaining: +(response.headers.get("x-ratelimit-remaining") ?? 0),
          reset: +(response.headers.get("x-ratelimit-reset") ?? 0),
        };
      }
      const text = await response.text();
      const data = text ? JSON.parse(text) : undefined;
      if (response.ok) return data;
      const error = data?.error ?? {};
      const refusal = new ChatError(response.status, error.code ?? `http_${response.status}`, error.message ?? response.statusText, error.retry_after);
      if (attempt === 0 && expired(refusal.code)) continue;
      throw refusal;
    }
  }
}
