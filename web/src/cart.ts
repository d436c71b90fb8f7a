// The cart as React Query state: reads `GET /api/v1/cart` (a guest's with X-Cart-Token, see
// api/client.ts), and every change answers with the whole cart, which replaces the cached one.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, unwrap, type Schemas } from './api/client';
import { track } from './lib/track';

export type Cart = Schemas['Cart'];
export const CART_KEY = ['cart'] as const;

export function useCart() {
  return useQuery({
    queryKey: CART_KEY,
    queryFn: () => unwrap(api.GET('/api/v1/cart')),
    staleTime: 10_000,
  });
}

export function useAddToCart() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (v: { sku: string; quantity: number; productId?: string }) =>
      unwrap(api.POST('/api/v1/cart/items', { body: { sku: v.sku, quantity: v.quantity } })),
    onSuccess: (cart, v) => {
      qc.setQueryData(CART_KEY, cart);
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
    onSuccess: (cart) => qc.setQueryData(CART_KEY, cart),
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
