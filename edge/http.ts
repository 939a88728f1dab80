/**
 * The edge's HTTP plumbing on uWebSockets.js: routes with path parameters, body
 * reading under a size limit, JSON Schema validation, bearer auth, request ids, and
 * replies (JSON or problem+json). Handlers are plain async functions of a context.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
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
  /** Stream this instead of `body` (large files): exactly `size` bytes, sent as the client takes them. */
  stream?: { body: Readable; size: number };
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

/**
 * A route whose body is a stream of bytes (uploads of any size) instead of JSON: the
 * handler reads `body` (a Readable fed by uWS with backpressure: the socket pauses while
 * the handler has not taken what came); the JSON body limit does not apply.
 */
export interface UploadSpec {
  summary: string;
  access: Access;
  headers?: readonly string[];
  /** The content types it takes, for the OpenAPI document. */
  contentTypes: readonly string[];
  /** The URL carries its own credential (a signature in the query) instead of a bearer token. */
  signedUrl?: boolean;
  /**
   * A body the handler refused before reading it all is read and dropped up to this many
   * bytes, so the client sees the answer (a client still sending when the connection
   * closes sees only a broken pipe); a larger one is cut by closing the connection.
   * Defaults to the JSON body limit.
   */
  drainBytes?: number;
  handler: (ctx: RequestContext<undefined>, body: Readable) => Promise<Reply>;
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
interface RequestState {
  aborted: boolean; timer?: RouteTimer; started?: number;
  /** Streams only: called when the client goes away; whether the whole request body came. */
  onAbort?: () => void; bodyEnded?: boolean;
  /** A HEAD request: the GET route's answer is sent without its body. */
  head?: boolean;
}

const REQUEST_ID_RE = /^[\w.:-]{1,128}$/;

/**
 * Sent with every answer (a reply's own header of the same name wins): scripts only from
 * this origin (no inline script anywhere), never framed, no MIME sniffing. Inline styles
 * are allowed: /docs carries its style sheet in the page.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; "
    + "media-src 'self' blob: https:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** Status line, request id and the security headers the reply does not set itself (inside a cork). */
function writeHead(res: HttpResponse, reply: Reply, requestId: string): void {
  res.writeStatus(statusLine(reply.status));
  res.writeHeader('x-request-id', requestId);
  const own = reply.headers ? new Set(Object.keys(reply.headers).map((name) => name.toLowerCase())) : undefined;
  for (const name in SECURITY_HEADERS) if (!own?.has(name)) res.writeHeader(name, SECURITY_HEADERS[name]!);
}

/** Deepest nesting of objects and arrays a JSON body may have: deeper is a 400, found before parsing. */
export const MAX_JSON_DEPTH = 32;

/**
 * What makes JSON text unacceptable before it is even parsed, if anything: nesting deeper
 * than `maxDepth` (brackets inside strings do not count), or a NUL character in a string
 * (`\u0000`: no Postgres text column can hold it).
 */
export function jsonTextProblem(raw: string, maxDepth: number): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) { // backslash: look at the escape, then skip it
        if (raw.startsWith('u0000', i + 1)) return 'must not contain NUL characters (\\u0000)';
        i++;
      } else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) { if (++depth > maxDepth) return `must not nest objects and arrays more than ${maxDepth} levels deep`; }
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return undefined;
}

/** What the router knows of a route, for the OpenAPI document. */
export interface RouteInfo {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** uWS pattern, e.g. /v1/orders/:orderId */
  pattern: string;
  summary: string;
  access: Access;
  bodySchema: string | undefined;
  headers: readonly string[];
  /** Set for upload routes (a byte stream, not JSON). */
  upload?: { contentTypes: readonly string[]; signedUrl: boolean };
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

  /** A streaming upload route (see UploadSpec). */
  upload(method: 'put' | 'post', pattern: string, spec: UploadSpec): this {
    this.routes.push({
      method, pattern, summary: spec.summary, access: spec.access, bodySchema: undefined, headers: spec.headers ?? [],
      upload: { contentTypes: spec.contentTypes, signedUrl: spec.signedUrl ?? false },
    });
    this.listen(method, pattern, spec.access, spec.headers, (res, state, ctx) => {
      const body = this.bodyStream(res, state);
      const reply = spec.handler(ctx as RequestContext<undefined>, body)
        .catch((error: unknown) => this.toReply(error, ctx.requestId));
      void reply.then((r) => this.finishUpload(res, state, ctx, r, body, spec.drainBytes ?? this.maxBodyBytes));
    });
    return this;
  }

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
    this.listen(method, pattern, spec.access, spec.headers, (res, state, untyped) => {
      const ctx = untyped as RequestContext<B>;
      const { headers, requestId } = ctx;
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

  /** Registers the uWS handler: reads the request (params, headers, id), checks access, then calls `next`. */
  private listen(method: Method, pattern: string, access: Access, extraHeaders: readonly string[] | undefined,
    next: (res: HttpResponse, state: RequestState, ctx: RequestContext<unknown>) => void): void {
    const paramNames = [...pattern.matchAll(/:(\w+)/g)].map((m) => m[1]!);
    const headerNames = ['content-type', 'content-length', ...(extraHeaders ?? [])];
    const timer = routeTimer(method === 'del' ? 'delete' : method, pattern);
    const handle = (res: HttpResponse, req: HttpRequest, head: boolean): void => {
      // uWS requests live only until the first await: read everything now.
      const state: RequestState = { aborted: false, timer, started: timer ? performance.now() : 0, head };
      res.onAborted(() => { state.aborted = true; state.onAbort?.(); });
      const requestId = this.requestIdOf(req);
      const headers: Record<string, string> = {};
      for (const name of headerNames) headers[name] = req.getHeader(name);
      const params: Record<string, string> = {};
      const ctx: RequestContext<unknown> = {
        method: req.getMethod(), path: req.getUrl(), query: new URLSearchParams(req.getQuery() ?? ''),
        params, headers, requestId, remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
        body: undefined, rawBody: '', user: undefined,
      };
      try {
        // A throw here would escape into uWS and end the process: bad encodings are a 400 instead.
        paramNames.forEach((name, i) => { params[name] = decodeParam(name, req.getParameter(i) ?? ''); });
        if (/%00/.test(req.getQuery() ?? '')) throw problems.badField('(query)', 'must not contain NUL characters (%00)');
        ctx.user = this.authorize(req.getHeader('authorization'), access);
      } catch (error) {
        this.drainAndSend(res, state, headers, requestId, problemReply(error as HttpProblem));
        return;
      }
      next(res, state, ctx);
    };
    this.app[method](pattern, (res, req) => handle(res, req, false));
    // Every GET answers HEAD too (RFC 9110 §9.3.2): the same status and headers, no body.
    if (method === 'get') this.app.head(pattern, (res, req) => handle(res, req, true));
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

  /**
   * The body as a Readable: each uWS chunk is copied in; when the stream's buffer is full
   * the socket pauses until the reader asks for more (a chunk already on its way is kept).
   */
  private bodyStream(res: HttpResponse, state: RequestState): Readable {
    let paused = false;
    const body = new Readable({
      highWaterMark: 1 << 20,
      read: () => {
        if (paused && !state.aborted) { paused = false; res.resume(); }
      },
    });
    state.onAbort = () => body.destroy(new Error('the client went away before the body ended'));
    body.on('error', () => undefined); // the reader (if any) gets it too; unread, it must not crash the process
    res.onData((chunk, isLast) => {
      const room = body.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) { state.bodyEnded = true; body.push(null); }
      else if (!room && !paused) { paused = true; res.pause(); }
    });
    return body;
  }

  /**
   * Sends an upload's reply. A handler that answered before reading the whole body (a
   * refusal): a rest up to `drainBytes` is read and dropped, a larger one is cut by closing
   * the connection.
   */
  private finishUpload(res: HttpResponse, state: RequestState, ctx: RequestContext<unknown>, reply: Reply, body: Readable,
    drainBytes: number): void {
    if (state.bodyEnded) {
      this.send(res, state, ctx.requestId, reply);
      return;
    }
    const declared = Number(ctx.headers['content-length'] || 0);
    if (body.destroyed || declared > drainBytes) {
      this.send(res, state, ctx.requestId, reply, true);
      return;
    }
    body.on('end', () => this.send(res, state, ctx.requestId, reply));
    body.resume();
  }

  private send(res: HttpResponse, state: RequestState, requestId: string, reply: Reply, closeConnection = false): void {
    if (state.aborted) return;
    state.aborted = true; // one reply per request
    if (reply.stream) {
      this.sendStream(res, state, requestId, reply, reply.stream);
      return;
    }
    const isProblem = reply.status >= 400;
    const contentType = reply.contentType ?? (isProblem ? 'application/problem+json' : 'application/json');
    const payload = reply.body === undefined ? '' : reply.contentType ? (reply.body as string | Buffer) : JSON.stringify(reply.body);
    res.cork(() => {
      writeHead(res, reply, requestId);
      if (reply.body !== undefined) res.writeHeader('content-type', contentType);
      if (reply.headers) for (const name in reply.headers) res.writeHeader(name, reply.headers[name]!);
      if (state.head) res.endWithoutBody(Buffer.byteLength(payload), closeConnection);
      else res.end(payload, closeConnection);
    });
    state.timer?.observe(reply.status, state.started!);
  }

  /** Streams a large reply as the client takes it (uWS tryEnd/onWritable), never all in memory. */
  private sendStream(res: HttpResponse, state: RequestState, requestId: string, reply: Reply, stream: { body: Readable; size: number }): void {
    const { body, size } = stream;
    let gone = false;
    state.onAbort = () => { gone = true; body.destroy(); };
    const write = (chunk: Buffer): [ok: boolean, done: boolean] => {
      const [ok, done] = res.tryEnd(chunk, size);
      if (done) body.destroy();
      return [ok, done];
    };
    res.cork(() => {
      writeHead(res, reply, requestId);
      if (reply.contentType) res.writeHeader('content-type', reply.contentType);
      if (reply.headers) for (const name in reply.headers) res.writeHeader(name, reply.headers[name]!);
      if (state.head) { res.endWithoutBody(size); body.destroy(); gone = true; }
      else if (size === 0) { res.end(); body.destroy(); }
    });
    body.on('data', (chunk: Buffer) => {
      if (gone) return;
      const offset = res.getWriteOffset();
      let ok = false;
      let done = false;
      res.cork(() => { [ok, done] = write(chunk); });
      if (ok || done) return;
      body.pause();
      res.onWritable((next) => {
        const [sent, finished] = write(chunk.subarray(next - offset));
        if (sent && !finished) body.resume();
        return sent;
      });
    });
    body.on('error', (error) => {
      if (gone) return;
      gone = true;
      this.log.warn({ requestId, err: error }, 'stream reply failed midway; closing the connection');
      res.close();
    });
    state.timer?.observe(reply.status, state.started!);
  }
}

export function problemReply(problem: HttpProblem): Reply {
  return { status: problem.status, body: problem.body(), headers: problem.headers };
}

/** A path parameter, percent-decoded; malformed percent-encoding or a NUL is a 400 naming it. */
function decodeParam(name: string, raw: string): string {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw problems.badField(name, 'is not valid percent-encoded UTF-8');
  }
  if (value.includes('\0')) throw problems.badField(name, 'must not contain NUL characters');
  return value;
}

function parseBody<B>(raw: string, contentType: string, validator: BodyValidator<B>): B {
  if (!/^application\/([\w.+-]*\+)?json\b/i.test(contentType)) throw problems.unsupportedMediaType();
  const shapeProblem = jsonTextProblem(raw, MAX_JSON_DEPTH);
  if (shapeProblem) throw problems.badField('(body)', shapeProblem);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw problems.malformedJson(`The body is not valid JSON: ${(error as Error).message}`);
  }
  return validator.parse(parsed);
}
