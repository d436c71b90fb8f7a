// The typed client of the gateway's REST API (types generated from /api/v1/openapi.json into
// schema.d.ts). One fetch wrapper adds what every call needs: the bearer token, the guest
// cart's X-Cart-Token, one token refresh and retry on a 401, and keeping a new X-Cart-Token.
// Pages use `api` (openapi-fetch) and `unwrap`, which turns problem+json into an ApiError.

import createClient from 'openapi-fetch';
import type { paths, components } from './schema';
import { ApiError, toApiError } from './problem';
import {
  getCartToken,
  getSession,
  sessionFromTokens,
  setCartToken,
  setSession,
} from '../lib/storage';

export type Schemas = components['schemas'];

/** An ISO 3166-1 alpha-2 code as the document lists them. */
export type CountryCode = NonNullable<Schemas['AddressInput']['country_code']>;

/** What a shopper typed as a country code, trimmed and uppercased. It is not checked against
 * the list here: the service answers an unknown code with a field error the form shows. */
export function countryCode(typed: string): CountryCode {
  return typed.trim().toUpperCase() as CountryCode;
}

/** Paths whose answers depend on the guest cart. */
function wantsCartToken(path: string): boolean {
  return path.startsWith('/api/v1/cart') || path === '/api/v1/auth/login';
}

let refreshing: Promise<boolean> | null = null;

/** Exchanges the refresh token for new tokens, once at a time; false when the session ended. */
export function refreshSession(baseFetch: typeof fetch = fetch): Promise<boolean> {
  if (refreshing) return refreshing;
  const session = getSession();
  if (!session) return Promise.resolve(false);
  refreshing = (async () => {
    try {
      const r = await baseFetch(new URL('/api/v1/auth/refresh', location.origin), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ refresh_token: session.refresh_token }),
      });
      if (!r.ok) {
        // A spent or revoked refresh token: the session is over (network errors keep it).
        if (r.status === 400 || r.status === 401) setSession(null);
        return false;
      }
      const t = (await r.json()) as Schemas['TokenResponse'];
      setSession(sessionFromTokens(t));
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** fetch with the session and the guest cart; retries once after refreshing an expired token. */
export async function shopFetch(input: Request): Promise<Response> {
  const path = new URL(input.url).pathname;
  const retry = input.clone();
  const send = (req: Request) => {
    const session = getSession();
    if (session && !req.headers.has('authorization') && path !== '/api/v1/auth/refresh') {
      req.headers.set('authorization', `Bearer ${session.access_token}`);
    }
    const cartToken = getCartToken();
    if (cartToken && wantsCartToken(path) && !req.headers.has('x-cart-token')) {
      req.headers.set('x-cart-token', cartToken);
    }
    return fetch(req);
  };
  // Refresh ahead of time when the access token is about to expire (saves a round trip).
  const s = getSession();
  if (s && s.expires_at - Date.now() < 15_000 && !path.startsWith('/api/v1/auth/')) {
    await refreshSession();
  }
  let resp = await send(input);
  if (resp.status === 401 && getSession() && !path.startsWith('/api/v1/auth/')) {
    if (await refreshSession()) resp = await send(retry);
  }
  const newCartToken = resp.headers.get('x-cart-token');
  if (newCartToken && !getSession()) setCartToken(newCartToken);
  return resp;
}

export const api = createClient<paths>({
  baseUrl: typeof location === 'undefined' ? 'http://localhost' : location.origin,
  fetch: shopFetch,
});

/** The data of a successful call, or throws the ApiError of its problem. */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let r: { data?: T; error?: unknown; response: Response };
  try {
    r = await call;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw toApiError(0, undefined);
  }
  if (!r.response.ok) throw toApiError(r.response.status, r.error);
  return r.data as T;
}
