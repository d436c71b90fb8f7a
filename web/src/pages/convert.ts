// Product shapes of the API as the cards show them.

import type { Schemas } from '../api/client';
import type { CardProduct } from '../components/ui';

export function fromProduct(p: Schemas['ProductView']): CardProduct {
  const primary = [...p.images].sort((a, b) => a.position - b.position)[0];
  return {
    id: p.id,
    slug: p.slug,
    name: p.name,
    brand: p.brand,
    image: primary?.url ?? null,
    price: p.min_price ?? null,
    inStock: p.variants.some((v) => v.in_stock),
  };
}

export function fromRecommended(p: Schemas['RecommendedProduct']): CardProduct {
  return {
    id: p.id,
    slug: p.slug,
    name: p.name,
    brand: p.brand,
    image: p.image_url ?? null,
    price: p.price ?? null,
    inStock: p.in_stock,
  };
}
