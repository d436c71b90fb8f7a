// What the shop keeps in the browser between page loads: the session tokens, the guest cart's
// token, the anonymous tracking id and the pending checkout's idempotency key. Everything goes
// through `store`, so tests can swap the backing storage.

export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** An in-memory store (tests, or a browser with storage disabled). */
export function memoryStore(): KeyValue {
  const m = new Map<string, string>();
  return {
    getItem: (k) => m.get(k) ?? null,
    setItem: (k, v) => void m.set(k, v),
    removeItem: (k) => void m.delete(k),
  };
}

function defaultStore(): KeyValue {
  try {
    if (typeof localStorage !== 'undefined') {
      const probe = '__sf_probe__';
      localStorage.setItem(probe, '1');
      localStorage.removeItem(probe);
      return localStorage;
    }
  } catch {
    // Storage disabled (private mode in some browsers): keep state for this page only.
  }
  return memoryStore();
}

let backing: KeyValue = defaultStore();

/** Replaces the backing store (tests). */
export function setBackingStore(s: KeyValue) {
  backing = s;
}

export const KEYS = {
  session: 'sf.session',
  cartToken: 'sf.cart_token',
  anonymousId: 'sf.anonymous_id',
  checkout: 'sf.checkout',
} as const;

export const store = {
  get(key: string): string | null {
    return backing.getItem(key);
  },
  set(key: string, value: string | null) {
    if (value === null) backing.removeItem(key);
    else backing.setItem(key, value);
  },
  getJson<T>(key: string): T | null {
    const raw = backing.getItem(key);
    if (!raw) return null;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return null;
    }
  },
  setJson(key: string, value: unknown) {
    if (value === null || value === undefined) backing.removeItem(key);
    else backing.setItem(key, JSON.stringify(value));
  },
};

/** A signed-in session: the OAuth 2.0 names the API answers with. */
export interface Session {
  access_token: string;
  refresh_token: string;
  /** Epoch milliseconds when the access token expires. */
  expires_at: number;
}

export function getSession(): Session | null {
  return store.getJson<Session>(KEYS.session);
}

export function setSession(s: Session | null) {
  store.setJson(KEYS.session, s);
  for (const l of sessionListeners) l(s);
}

const sessionListeners = new Set<(s: Session | null) => void>();

/** Calls `l` whenever the session changes (login, refresh, logout); returns the unsubscribe. */
export function onSessionChange(l: (s: Session | null) => void): () => void {
  sessionListeners.add(l);
  return () => sessionListeners.delete(l);
}

export function sessionFromTokens(
  t: { access_token: string; refresh_token: string; expires_in: number },
  now = Date.now(),
): Session {
  return {
    access_token: t.access_token,
    refresh_token: t.refresh_token,
    expires_at: now + t.expires_in * 1000,
  };
}

export function getCartToken(): string | null {
  return store.get(KEYS.cartToken);
}

export function setCartToken(t: string | null) {
  store.set(KEYS.cartToken, t);
}
