import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { getCartToken, getSession, memoryStore, setBackingStore, setCartToken, setSession } from '../lib/storage';
import { shopFetch } from './client';

const origin = 'http://shop.test';

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

describe('shopFetch', () => {
  let calls: { url: string; auth: string | null; cart: string | null; body: string }[];
  let answers: Response[];

  beforeEach(() => {
    setBackingStore(memoryStore());
    vi.stubGlobal('location', { origin });
    calls = [];
    answers = [];
    vi.stubGlobal('fetch', async (input: Request | URL, init?: RequestInit) => {
      const req = input instanceof Request ? input : new Request(input, init);
      calls.push({
        url: new URL(req.url).pathname,
        auth: req.headers.get('authorization'),
        cart: req.headers.get('x-cart-token'),
        body: await req.clone().text(),
      });
      const next = answers.shift();
      if (!next) throw new Error(`unexpected request ${req.url}`);
      return next;
    });
  });
  afterEach(() => vi.unstubAllGlobals());

  it('refreshes an expired session once and retries the request with the new token', async () => {
    setSession({ access_token: 'old', refresh_token: 'r1', expires_at: Date.now() + 600_000 });
    answers.push(
      json(401, { status: 401, reason: 'expired' }),
      json(200, { access_token: 'new', token_type: 'Bearer', expires_in: 900, refresh_token: 'r2' }),
      json(200, { items: [] }),
    );
    const resp = await shopFetch(new Request(`${origin}/api/v1/orders`, { method: 'POST', body: '{"a":1}' }));
    expect(resp.status).toBe(200);
    expect(calls.map((c) => c.url)).toEqual(['/api/v1/orders', '/api/v1/auth/refresh', '/api/v1/orders']);
    expect(calls[0].auth).toBe('Bearer old');
    expect(JSON.parse(calls[1].body)).toEqual({ refresh_token: 'r1' });
    expect(calls[2].auth).toBe('Bearer new');
    expect(calls[2].body).toBe('{"a":1}');
    expect(getSession()?.refresh_token).toBe('r2');
  });

  it('ends the session when the refresh token is refused', async () => {
    setSession({ access_token: 'old', refresh_token: 'spent', expires_at: Date.now() + 600_000 });
    answers.push(json(401, { status: 401 }), json(401, { status: 401 }));
    const resp = await shopFetch(new Request(`${origin}/api/v1/orders`));
    expect(resp.status).toBe(401);
    expect(getSession()).toBeNull();
    expect(calls).toHaveLength(2);
  });

  it('keeps a new guest cart token and sends it on cart calls and at login only', async () => {
    answers.push(json(201, { items: [] }, { 'x-cart-token': 'guest-1' }));
    await shopFetch(new Request(`${origin}/api/v1/cart/items`, { method: 'POST', body: '{}' }));
    expect(getCartToken()).toBe('guest-1');
    answers.push(json(200, { items: [] }), json(200, { items: [] }), json(200, {}));
    await shopFetch(new Request(`${origin}/api/v1/cart`));
    await shopFetch(new Request(`${origin}/api/v1/products`));
    await shopFetch(new Request(`${origin}/api/v1/auth/login`, { method: 'POST', body: '{}' }));
    expect(calls.slice(1).map((c) => c.cart)).toEqual(['guest-1', null, 'guest-1']);
    setCartToken(null);
  });
});
