/**
 * An error that already knows how it reads to an API caller, as an RFC 9457 problem document.
 * Services throw these; the error plugin serialises them (problemFor says how other errors read).
 */
export class ProblemError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly headers: Record<string, string>;
  readonly extensions: Record<string, unknown>;

  constructor(options: {
    status: number;
    slug: string;
    title: string;
    detail: string;
    headers?: Record<string, string>;
    extensions?: Record<string, unknown>;
    cause?: unknown;
  }) {
    super(options.detail, { cause: options.cause });
    this.name = 'ProblemError';
    this.status = options.status;
    this.type = problemType(options.slug);
    this.title = options.title;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

/** Problem types are relative URIs so they stay stable whatever host serves the API. */
export function problemType(slug: string): string {
  return `/problems/${slug}`;
}

export const notFound = (detail: string) =>
  new ProblemError({ status: 404, slug: 'not-found', title: 'Not Found', detail });

export const badRequest = (detail: string, extensions?: Record<string, unknown>) =>
  new ProblemError({ status: 400, slug: 'bad-request', title: 'Bad Request', detail, extensions });
