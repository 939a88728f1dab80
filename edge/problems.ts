/**
 * RFC 9457 problem details: every error a client sees is one of these, as
 * application/problem+json. `type` is a URI reference ending in the problem's slug.
 */
export interface FieldError { field: string; message: string }

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

export class HttpProblem extends Error {
  readonly status: number;
  readonly slug: string;
  readonly title: string;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;

  constructor(status: number, slug: string, title: string, detail: string,
    options: { errors?: FieldError[]; headers?: Record<string, string>; extra?: Record<string, unknown> } = {}) {
    super(detail);
    this.status = status;
    this.slug = slug;
    this.title = title;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }

  /** The RFC 9457 members come last: an extra member of the same name (e.g. an order's `status`) cannot replace them. */
  body(): ProblemBody {
    return {
      ...this.extra,
      type: `/problems/${this.slug}`, title: this.title, status: this.status, detail: this.message,
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }
}

export const problems = {
  malformedJson: (detail: string) => new HttpProblem(400, 'malformed-json', 'Malformed JSON', detail),
  validation: (errors: FieldError[]) => new HttpProblem(400, 'validation-failed', 'Invalid request',
    errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors }),
  badField: (field: string, message: string) => problems.validation([{ field, message }]),
  unsupportedMediaType: () => new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type',
    'Send the body as application/json'),
  bodyTooLarge: (limit: number) => new HttpProblem(413, 'body-too-large', 'Body too large', `The body must be at most ${limit} bytes`),
  unauthorized: (detail = 'Sign in: send Authorization: Bearer <token> from POST /v1/users/login') =>
    new HttpProblem(401, 'unauthorized', 'Unauthorized', detail, { headers: { 'WWW-Authenticate': 'Bearer' } }),
  forbidden: (detail = 'Your role may not do this') => new HttpProblem(403, 'forbidden', 'Forbidden', detail),
  notFound: (what: string) => new HttpProblem(404, 'not-found', 'Not found', `${what} was not found`),
  conflict: (slug: string, title: string, detail: string, extra?: Record<string, unknown>) =>
    new HttpProblem(409, slug, title, detail, extra ? { extra } : {}),
  unavailable: (detail: string, retryAfterSeconds = 1, extra?: Record<string, unknown>) => new HttpProblem(503,
    'service-unavailable', 'Service unavailable', detail, { headers: { 'Retry-After': String(retryAfterSeconds) }, ...(extra ? { extra } : {}) }),
  internal: () => new HttpProblem(500, 'internal-error', 'Internal error', 'Something went wrong on our side; it has been logged'),
};
