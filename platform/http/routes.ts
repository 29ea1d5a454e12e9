// Each route declared once: its path, schemas, documentation and handler. The declaration
// registers the OpenAPI operation and the router route from the same object, validates the path
// parameters (400 invalid_id), query (400 invalid_query) and body (422 validation_failed) before
// the handler runs, and hands the handler what it parsed, with the caller when the route needs one.
import type { RouterMiddleware } from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import type { ZodOpenApiOperationObject, ZodOpenApiResponseObject, ZodOpenApiResponsesObject } from 'zod-openapi';
import type { FieldError } from '../commands/decision.ts';
import { answerHoldsSecret, ignoresIdempotencyKey } from './idempotency.ts';
import { jsonContent, problemResponse, type ConventionHeader, type OpenApiRegistry } from './openapi.ts';
import { requireAdmin, requireAuth } from './require-auth.ts';
import { createRouter, type AppContext, type AppRouter, type AppState, type AuthState } from './state.ts';
import { parseBody, parseParams, parseQuery } from './validate.ts';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * A response: a plain description (a problem+json answer for 4xx/5xx, no body otherwise), a JSON
 * schema with its description, or an OpenAPI response object for other content types.
 */
export type ResponseSpec =
  string | { readonly description: string; readonly schema: z.ZodType } | ZodOpenApiResponseObject;

/** Who may call: anyone (`public`), an authenticated caller (`caller`, the default), or an admin (`admin`). */
export type Access = 'public' | 'caller' | 'admin';

type Infer<S> = S extends z.ZodType ? z.infer<S> : undefined;

export interface RouteInput<P, Q, B, A extends Access> {
  readonly params: Infer<P>;
  readonly query: Infer<Q>;
  readonly body: Infer<B>;
  readonly auth: A extends 'public' ? AuthState | undefined : AuthState;
}

export interface RouteDefinition<
  P extends z.ZodType | undefined,
  Q extends z.ZodType | undefined,
  B extends z.ZodType | undefined,
  A extends Access,
> {
  readonly method: Method;
  /** In OpenAPI form, with the /api/v1 prefix, e.g. `/api/v1/samples/{id}`. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly access?: A;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  /** A body the route reads itself (not JSON, e.g. a CSV file): documented only, never parsed here. */
  readonly rawBody?: ZodOpenApiOperationObject['requestBody'];
  /** A module's own rules over a body that failed its schema, so one 422 lists everything. */
  readonly alsoCheck?: (raw: unknown) => readonly FieldError[];
  /** Runs before the input is parsed, e.g. a rate limit or a check on the kind of caller. */
  readonly middleware?: readonly Middleware<AppState>[];
  /**
   * How an Idempotency-Key is treated (platform/http/idempotency.ts): `ignored` where each call is
   * new (login, refresh), `secret` where the answer holds a secret that is never kept.
   */
  readonly idempotency?: 'ignored' | 'secret';
  /** Request headers of the house conventions the route honours (documented as parameters). */
  readonly headers?: readonly ConventionHeader[];
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  readonly handler: (ctx: AppContext, input: RouteInput<P, Q, B, A>) => unknown;
}

export interface RouteGroupOptions {
  /** The OpenAPI tag of every route in the group. */
  readonly tag: string;
  readonly description: string;
}

/** `{id}` → `:id`, the router's form of a path parameter. */
const routerPath = (path: string): string => path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');

function responseObject(status: number, spec: ResponseSpec): ZodOpenApiResponseObject {
  if (typeof spec === 'string') return status >= 400 ? problemResponse(spec) : { description: spec };
  if ('schema' in spec && spec.schema instanceof z.ZodType)
    return { description: spec.description, ...jsonContent(spec.schema) };
  return spec;
}

/** One module's routes: declared once, documented in the registry, served by `router`. */
export class RouteGroup {
  readonly router: AppRouter = createRouter();
  readonly #openapi: OpenApiRegistry;
  readonly #tag: string;

  constructor(openapi: OpenApiRegistry, options: RouteGroupOptions) {
    this.#openapi = openapi.tag(options.tag, options.description);
    this.#tag = options.tag;
  }

  add<
    P extends z.ZodType | undefined = undefined,
    Q extends z.ZodType | undefined = undefined,
    B extends z.ZodType | undefined = undefined,
    A extends Access = 'caller',
  >(route: RouteDefinition<P, Q, B, A>): this {
    this.#openapi.add(route.method, route.path, this.#operation(route), { headers: route.headers ?? [] });
    const access = route.access ?? 'caller';
    const handler: RouterMiddleware<AppState> = async (ctx) => {
      const auth = access === 'public' ? ctx.state.auth : access === 'admin' ? requireAdmin(ctx) : requireAuth(ctx);
      const input = {
        params: route.params ? parseParams(ctx, route.params) : undefined,
        query: route.query ? parseQuery(ctx, route.query) : undefined,
        body: route.body ? parseBody(ctx, route.body, route.alsoCheck) : undefined,
        auth,
      } as RouteInput<P, Q, B, A>;
      await route.handler(ctx, input);
    };
    const marked =
      route.idempotency === 'ignored'
        ? ignoresIdempotencyKey(handler)
        : route.idempotency === 'secret'
          ? answerHoldsSecret(handler)
          : handler;
    this.router[route.method](routerPath(route.path), ...(route.middleware ?? []), marked);
    return this;
  }

  #operation(
    route: RouteDefinition<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined, Access>,
  ): ZodOpenApiOperationObject {
    const responses: ZodOpenApiResponsesObject = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      responses[status as `${1 | 2 | 3 | 4 | 5}${string}`] = responseObject(Number(status), spec);
    }
    if (route.access === 'admin') responses['403'] ??= problemResponse('`forbidden`: not an admin');
    const requestParams = {
      ...(route.params instanceof z.ZodObject ? { path: route.params } : {}),
      ...(route.query instanceof z.ZodObject ? { query: route.query } : {}),
    };
    return {
      tags: [this.#tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      ...(route.access === 'public' ? { security: [] } : {}),
      ...(Object.keys(requestParams).length > 0 ? { requestParams } : {}),
      ...(route.body ? { requestBody: jsonContent(route.body) } : route.rawBody ? { requestBody: route.rawBody } : {}),
      responses,
    };
  }
}
