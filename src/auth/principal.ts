/** What a key may do: `read` search, ask, list; `write` ingest, upload, delete; `admin` manage collections, see every job. */
export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * Who a request acts for: the name of its API key (never the key), its scopes and the collections
 * it may touch (names or `*` globs). Resolved once per request by the auth plugin.
 */
export interface Principal {
  readonly name: string;
  readonly scopes: readonly Scope[];
  readonly collections: readonly string[];
  /** Requests per window for this key; undefined: the service's RATE_LIMIT_MAX and RATE_LIMIT_WINDOW_MS. */
  readonly rateLimit?: { readonly max: number; readonly windowMs: number };
  /** Most chunks stored in the collections this key may touch; undefined: no quota. */
  readonly maxChunks?: number;
}

/** What a request without a key acts as where none is needed (no keys configured, or a public path). */
export const UNRESTRICTED: Principal = { name: 'anonymous', scopes: SCOPES, collections: ['*'] };

const escape = (text: string) => text.replace(/[.+^${}()|[\]\\]/g, '\\$&');

/** A matcher for collection globs: `*` stands for any run of characters, `?` for one. */
export function collectionMatcher(globs: readonly string[]): (collection: string) => boolean {
  if (globs.includes('*')) return () => true;
  const pattern = new RegExp(`^(?:${globs.map((glob) => escape(glob).replace(/\*/g, '.*').replace(/\?/g, '.')).join('|')})$`);
  return (collection) => pattern.test(collection);
}

const matchers = new WeakMap<Principal, (collection: string) => boolean>();

/** Whether the principal may touch the collection (read it, write it, or learn that it exists). */
export function mayTouch(principal: Principal, collection: string): boolean {
  let matcher = matchers.get(principal);
  if (!matcher) {
    matcher = collectionMatcher(principal.collections);
    matchers.set(principal, matcher);
  }
  return matcher(collection);
}

export const hasScope = (principal: Principal, scope: Scope): boolean => principal.scopes.includes(scope);
