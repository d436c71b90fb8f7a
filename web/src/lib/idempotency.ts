// The checkout's Idempotency-Key: one key per checkout attempt, kept in storage so that a retry
// after a network error or a reload sends the same key (the API then answers with the order it
// already made instead of making a second one). A changed body (another card or address) is a
// new attempt and gets a new key: the API refuses a known key with a different body.

import { KEYS, store } from './storage';

interface Pending {
  key: string;
  fingerprint: string;
}

/** A stable text of the request body: same body, same fingerprint. */
export function fingerprint(body: unknown): string {
  return JSON.stringify(sortKeys(body));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, sortKeys(x)]),
    );
  }
  return v;
}

export function newKey(): string {
  return crypto.randomUUID();
}

/** The key for a checkout with `body`: the pending one when the body is the same, else new. */
export function checkoutKey(body: unknown, make: () => string = newKey): string {
  const fp = fingerprint(body);
  const pending = store.getJson<Pending>(KEYS.checkout);
  if (pending && pending.fingerprint === fp) return pending.key;
  const key = make();
  store.setJson(KEYS.checkout, { key, fingerprint: fp } satisfies Pending);
  return key;
}

/** Forgets the pending key once the API gave a definite answer (an order, or a refusal). */
export function settleCheckoutKey() {
  store.setJson(KEYS.checkout, null);
}
