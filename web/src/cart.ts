// The cart as React Query state: reads `GET /api/v1/cart` (a guest's with X-Cart-Token, see
// api/client.ts), and every change answers with the whole cart, which replaces the cached one.
// The estimate (the same call with a destination, currency, method or code) is a query of its
// own under the cart's key, so every change of the cart refreshes it too.

import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from './api/client';
import { useSession } from './lib/session';
import { estimateQuery, type EstimateParams } from './lib/totals';
import { track } from './lib/track';

export type Cart = Schemas['Cart'];
export const CART_KEY = ['cart'] as const;
export const ESTIMATE_KEY = [...CART_KEY, 'estimate'] as const;

export function useCart() {
  return useQuery({
    queryKey: CART_KEY,
    queryFn: () => unwrap(api.GET('/api/v1/cart')),
    staleTime: 10_000,
  });
}

/** The cart priced for `params` (`estimate`, or `estimate_problem` when it cannot be). */
export function useCartEstimate(params: EstimateParams, enabled = true) {
  const query = estimateQuery(params);
  return useQuery({
    queryKey: [...ESTIMATE_KEY, query],
    queryFn: () => unwrap(api.GET('/api/v1/cart', { params: { query } })),
    enabled: enabled && Object.keys(query).length > 0,
    // Keep the last summary on screen while a new choice is priced.
    placeholderData: keepPreviousData,
    staleTime: 10_000,
  });
}

/** The signed-in customer's saved currency; undefined for guests, before it was ever saved
 *  (the API then answers the shop's default, which the items may not be priced in) or when
 *  preferences cannot be read. `ready` once that is known. */
export function usePreferredCurrency(): { currency?: string; ready: boolean } {
  const signedIn = !!useSession();
  const prefs = useQuery({
    queryKey: ['preferences'],
    queryFn: () => unwrap(api.GET('/api/v1/users/me/preferences', {})),
    enabled: signedIn,
    retry: false,
  });
  if (!signedIn) return { ready: true };
  if (prefs.isPending) return { ready: false };
  const p = prefs.data;
  return { currency: p && p.updated_at && p.currency ? p.currency : undefined, ready: true };
}

export function useAddToCart() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { sku: string; quantity: number; productId?: string }) =>
      unwrap(api.POST('/api/v1/cart/items', { body: { sku: v.sku, quantity: v.quantity } })),
    onSuccess: (cart, v) => {
      qc.setQueryData(CART_KEY, cart);
      void qc.invalidateQueries({ queryKey: ESTIMATE_KEY });
      if (v.productId) {
        track({ type: 'cart_item_added', product_id: v.productId, sku: v.sku, quantity: v.quantity });
      }
    },
  });
}

export function useUpdateCartLine() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { sku: string; quantity: number }) =>
      unwrap(
        api.PATCH('/api/v1/cart/items/{sku}', {
          params: { path: { sku: v.sku } },
          body: { quantity: v.quantity },
        }),
      ),
    onSuccess: (cart) => {
      qc.setQueryData(CART_KEY, cart);
      return qc.invalidateQueries({ queryKey: ESTIMATE_KEY });
    },
    onError: () => qc.invalidateQueries({ queryKey: CART_KEY }),
  });
}

export function useRemoveCartLine() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (v: { sku: string; quantity: number; productId?: string | null }) => {
      await unwrap(api.DELETE('/api/v1/cart/items/{sku}', { params: { path: { sku: v.sku } } }));
      return v;
    },
    onSuccess: (v) => {
      if (v.productId) {
        track({ type: 'cart_item_removed', product_id: v.productId, sku: v.sku, quantity: v.quantity });
      }
      return qc.invalidateQueries({ queryKey: CART_KEY });
    },
  });
}
