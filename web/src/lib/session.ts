// The signed-in session as React state: components re-render on login, refresh and logout.

import { useSyncExternalStore } from 'react';
import { KEYS, getSession, onSessionChange, store, type Session } from './storage';

let cachedRaw: string | null = null;
let cached: Session | null = null;

function snapshot(): Session | null {
  const raw = store.get(KEYS.session);
  if (raw !== cachedRaw) {
    cachedRaw = raw;
    cached = getSession();
  }
  return cached;
}

function subscribe(cb: () => void): () => void {
  const off = onSessionChange(() => cb());
  // Another tab logged in or out.
  const onStorage = (e: StorageEvent) => {
    if (e.key === KEYS.session) cb();
  };
  window.addEventListener('storage', onStorage);
  return () => {
    off();
    window.removeEventListener('storage', onStorage);
  };
}

export function useSession(): Session | null {
  return useSyncExternalStore(subscribe, snapshot, () => null);
}

/** The user id (`sub`) of an access token, without verifying it (the API does that). */
export function userIdOf(s: Session | null): string | null {
  if (!s) return null;
  try {
    const payload = s.access_token.split('.')[1];
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    return (JSON.parse(json) as { sub?: string }).sub ?? null;
  } catch {
    return null;
  }
}
