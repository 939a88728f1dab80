/**
 * The edge's HTTP plumbing on uWebSockets.js: routes with path parameters, body
 * reading under a size limit, JSON Schema validation, bearer auth, request ids, and
 * replies (JSON or problem+json). Handlers are plain async functions of a context.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../common/logger.js';
import { DependencyUnavailableError } from '../common/errors.js';
import { HttpProblem, problems } from './problems.js';
import type { AuthUser, Role, TokenVerifier } from './auth.js';
import type { BodyValidator } from './schemas.js';
import { routeTimer, type RouteTimer } from '../common/metrics.js';

export interface RequestContext<Body = unknown> {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  headers: Record<string, string>;
  requestId: string;
  remoteAddress: string;
  /** The parsed, validated body (undefined for routes without a body schema). */
  body: Body;
  /** The raw body text, for fingerprints. */
  rawBody: string;
  user: AuthUser | undefined;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Send `body` as is with this content type instead of JSON. */
  contentType?: string;
}

export type Access = 'anyone' | 'signed-in' | readonly Role[];

export interface RouteSpec<Body> {
  /** One line for the OpenAPI document. */
  summary?: string;
  access: Access;
  body?: BodyValidator<Body>;
  /** Request headers the handler reads (lower-case); authorization and x-request-id are always read. */
  headers?: readonly string[];
  handler: (ctx: RequestContext<Body>) => Promise<Reply> | Reply;
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'del';

const statusLines = new Map<number, string>();
const statusLine = (status: number): string => {
  let line = statusLines.get(status);
  if (!line) {
    line = `${status} ${STATUS_CODES[status] ?? ''}`;
    statusLines.set(status, line);
  }
  return line;
};

/** Per request: answered yet, and the route's timer (metrics) with the start time. */
interface RequestState { aborted: boolean; timer?: RouteTimer; started?: number }

const REQUEST_ID_RE = /^[\w.:-]{1,128}$/;

/** What the router knows of a route, for the OpenAPI document. */
export interface RouteInfo {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** uWS pattern, e.g. /v1/orders/:orderId */
  pattern: string;
  summary: string;
  access: Access;
  bodySchema: string | undefined;
  headers: readonly string[];
}

export class Router {
  /** Every route added, in order. */
  readonly routes: RouteInfo[] = [];

  constructor(
    private readonly app: TemplatedApp,
    private readonly auth: TokenVerifier,
    private readonly log: Logger,
    private readonly maxBodyBytes: number,
  ) {}

  get<B>(pattern: string, spec: RouteSpec<B>): this { return this.add('get', pattern, spec); }
  post<B>(pattern: string, spec: RouteSpec<B>): this { return this.add('post', pattern, spec); }
  put<B>(pattern: string, spec: RouteSpec<B>): this { return this.add('put', pattern, spec); }
  patch<B>(pattern: string, spec: RouteSpec<B>): this { return this.add('patch', pattern, spec); }
  delete<B>(pattern: string, spec: RouteSpec<B>): this { return this.add('del', pattern, spec); }

  /** Answers every unmatched request with a problem instead of uWS's bare 404. */
  fallback(): void {
    this.app.any('/*', (res, req) => {
      const requestId = this.requestIdOf(req);
      const path = req.getUrl();
      this.send(res, { aborted: false }, requestId, problemReply(problems.notFound(`No route for ${path}; see /openapi.json`)));
    });
  }

  private add<B>(method: Method, pattern: string, spec: RouteSpec<B>): this {
    this.routes.push({
      method: method === 'del' ? 'delete' : method, pattern, summary: spec.summary ?? '', access: spec.access,
      bodySchema: spec.body?.schema, headers: spec.headers ?? [],
    });
    const paramNames = [...pattern.matchAll(/:(\w+)/g)].map((m) => m[1]!);
    const headerNames = ['content-type', 'content-length', ...(spec.headers ?? [])];
    const timer = routeTimer(method === 'del' ? 'delete' : method, pattern);
    this.app[method](pattern, (res: HttpResponse, req: HttpRequest) => {
      // uWS requests live only until the first await: read everything now.
      const state: RequestState = { aborted: false, timer, started: timer ? performance.now() : 0 };
      res.onAborted(() => { state.aborted = true; });
      const requestId = this.requestIdOf(req);
      const headers: Record<string, string> = {};
      for (const name of headerNames) headers[name] = req.getHeader(name);
      const params: Record<string, string> = {};
      paramNames.forEach((name, i) => { params[name] = decodeURIComponent(req.getParameter(i) ?? ''); });
      const ctx: RequestContext<B> = {
        method: req.getMethod(), path: req.getUrl(), query: new URLSearchParams(req.getQuery() ?? ''),
        params, headers, requestId, remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
        body: undefined as B, rawBody: '', user: undefined,
      };
      let authError: HttpProblem | undefined;
      try {
        ctx.user = this.authorize(req.getHeader('authorization'), spec.access);
      } catch (error) {
        authError = error as HttpProblem;
      }
      if (authError) {
        this.drainAndSend(res, state, headers, requestId, problemReply(authError));
        return;
      }
      if (!spec.body) {
        this.run(res, state, ctx, spec);
        return;
      }
      const declared = Number(headers['content-length'] || 0);
      if (declared > this.maxBodyBytes) {
        this.drainAndSend(res, state, headers, requestId, problemReply(problems.bodyTooLarge(this.maxBodyBytes)));
        return;
      }
      this.readBody(res, state, (raw) => {
        if (raw === undefined) {
          this.send(res, state, requestId, problemReply(problems.bodyTooLarge(this.maxBodyBytes)));
          return;
        }
        try {
          ctx.rawBody = raw;
          ctx.body = parseBody(raw, headers['content-type'] ?? '', spec.body!);
        } catch (error) {
          this.send(res, state, requestId, this.toReply(error, requestId));
          return;
        }
        this.run(res, state, ctx, spec);
      });
    });
    return this;
  }

  private requestIdOf(req: HttpRequest): string {
    const given = req.getHeader('x-request-id');
    return given && REQUEST_ID_RE.test(given) ? given : randomUUID();
  }

  private authorize(header: string, access: Access): AuthUser | undefined {
    if (access === 'anyone') {
      if (!header) return undefined;
      try { return this.auth.verifyHeader(header); } catch { return undefined; }
    }
    if (!header) throw problems.unauthorized();
    const user = this.auth.verifyHeader(header);
    if (access !== 'signed-in' && !access.includes(user.role)) {
      throw problems.forbidden(`This needs the role ${access.join(' or ')}; you are ${user.role}`);
    }
    return user;
  }

  private run<B>(res: HttpResponse, state: { aborted: boolean }, ctx: RequestContext<B>, spec: RouteSpec<B>): void {
    let reply: Promise<Reply> | Reply;
    try {
      reply = spec.handler(ctx);
    } catch (error) {
      this.send(res, state, ctx.requestId, this.toReply(error, ctx.requestId));
      return;
    }
    if (reply instanceof Promise) {
      reply.then(
        (r) => this.send(res, state, ctx.requestId, r),
        (error: unknown) => this.send(res, state, ctx.requestId, this.toReply(error, ctx.requestId)),
      );
    } else {
      this.send(res, state, ctx.requestId, reply);
    }
  }

  private toReply(error: unknown, requestId: string): Reply {
    if (error instanceof HttpProblem) return problemReply(error);
    if (error instanceof DependencyUnavailableError) {
      this.log.warn({ requestId, dependency: error.dependency, err: error.cause }, 'dependency unavailable');
      return problemReply(problems.unavailable(`${error.dependency} is unavailable; try again shortly`));
    }
    this.log.error({ requestId, err: error }, 'unhandled error');
    return problemReply(problems.internal());
  }

  /** Reads the whole body, or calls back with undefined once it passes the limit. */
  private readBody(res: HttpResponse, state: { aborted: boolean }, done: (raw: string | undefined) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    res.onData((chunk, isLast) => {
      if (!over) {
        size += chunk.byteLength;
        if (size > this.maxBodyBytes) over = true;
        else chunks.push(Buffer.from(Buffer.from(chunk)));
      }
      if (isLast && !state.aborted) done(over ? undefined : Buffer.concat(chunks, size).toString('utf8'));
    });
  }

  /** Replies without reading the body first: reads and drops it, so the connection stays usable. */
  private drainAndSend(res: HttpResponse, state: { aborted: boolean }, headers: Record<string, string>,
    requestId: string, reply: Reply): void {
    if (!headers['content-length'] || headers['content-length'] === '0') {
      this.send(res, state, requestId, reply);
      return;
    }
    res.onData((_chunk, isLast) => {
      if (isLast) this.send(res, state, requestId, reply);
    });
  }

  private send(res: HttpResponse, state: RequestState, requestId: string, reply: Reply): void {
    if (state.aborted) return;
    state.aborted = true; // one reply per request
    const isProblem = reply.status >= 400;
    const contentType = reply.contentType ?? (isProblem ? 'application/problem+json' : 'application/json');
    const payload = reply.body === undefined ? '' : reply.contentType ? (reply.body as string | Buffer) : JSON.stringify(reply.body);
    res.cork(() => {
      res.writeStatus(statusLine(reply.status));
      res.writeHeader('x-request-id', requestId);
      if (reply.body !== undefined) res.writeHeader('content-type', contentType);
      if (reply.headers) for (const name in reply.headers) res.writeHeader(name, reply.headers[name]!);
      res.end(payload);
    });
    state.timer?.observe(reply.status, state.started!);
  }
}

export function problemReply(problem: HttpProblem): Reply {
  return { status: problem.status, body: problem.body(), headers: problem.headers };
}

function parseBody<B>(raw: string, contentType: string, validator: BodyValidator<B>): B {
  if (!/^application\/([\w.+-]*\+)?json\b/i.test(contentType)) throw problems.unsupportedMediaType();
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw problems.malformedJson(`The body is not valid JSON: ${(error as Error).message}`);
  }
  return validator.parse(parsed);
}
