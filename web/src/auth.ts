// Sign-up, login and logout. A guest cart follows its owner: login sends X-Cart-Token (the
// gateway merges it), sign-up merges it through `POST /api/v1/cart/merge`; then the guest
// token is forgotten.

import type { QueryClient } from '@tanstack/react-query';
import { api, unwrap } from './api/client';
import { getCartToken, getSession, sessionFromTokens, setCartToken, setSession } from './lib/storage';

export async function login(qc: QueryClient, email: string, password: string) {
  const t = await unwrap(api.POST('/api/v1/auth/login', { body: { email, password } }));
  setSession(sessionFromTokens(t));
  setCartToken(null);
  await qc.resetQueries();
}

export async function register(
  qc: QueryClient,
  body: { email: string; password: string; display_name?: string },
) {
  const r = await unwrap(api.POST('/api/v1/auth/register', { body }));
  setSession(sessionFromTokens(r));
  const cartToken = getCartToken();
  if (cartToken) {
    try {
      await unwrap(api.POST('/api/v1/cart/merge', { params: { header: { 'X-Cart-Token': cartToken } } }));
    } catch {
      // The account exists either way; the guest cart stays until the next login.
    }
  }
  setCartToken(null);
  await qc.resetQueries();
}

export async function logout(qc: QueryClient) {
  const s = getSession();
  if (s) {
    try {
      await unwrap(api.POST('/api/v1/auth/logout', { body: { refresh_token: s.refresh_token } }));
    } catch {
      // Logging out locally is what matters to the person at the screen.
    }
  }
  setSession(null);
  qc.clear();
}
