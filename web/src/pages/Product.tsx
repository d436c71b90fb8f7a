// Product page: images, the variant picker by attributes, live availability (polled from
// inventory), add to cart, wishlist, and similar items.

import { useEffect, useMemo, useState } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { useAddToCart } from '../cart';
import { FormError, Price, ProductGrid, ProductImage, Spinner } from '../components/ui';
import { formError } from '../api/problem';
import { useSession } from '../lib/session';
import { track } from '../lib/track';
import { attributeOptions, choose, findVariant, initialChoice } from '../lib/variants';
import { fromRecommended } from './convert';

export default function Product() {
  const { slug = '' } = useParams();
  const session = useSession();
  const product = useQuery({
    queryKey: ['product', slug],
    queryFn: () => unwrap(api.GET('/api/v1/products/{id_or_slug}', { params: { path: { id_or_slug: slug } } })),
  });
  const p = product.data;
  const [choice, setChoice] = useState<Record<string, string>>({});
  const [quantity, setQuantity] = useState(1);
  const [added, setAdded] = useState(false);
  const [imageIndex, setImageIndex] = useState(0);

  useEffect(() => {
    if (!p) return;
    setChoice(initialChoice(p.variants));
    setImageIndex(0);
    setQuantity(1);
    setAdded(false);
    track({ type: 'product_viewed', product_id: p.id });
  }, [p]);

  const availability = useQuery({
    queryKey: ['availability', p?.id],
    queryFn: () =>
      unwrap(api.GET('/api/v1/products/{id_or_slug}/availability', { params: { path: { id_or_slug: p!.id } } })),
    enabled: !!p,
    refetchInterval: 15_000,
  });
  const similar = useQuery({
    queryKey: ['recommendations', 'similar', p?.id],
    queryFn: () =>
      unwrap(api.GET('/api/v1/recommendations', { params: { query: { kind: 'similar', product_id: p!.id, limit: 8 } } })),
    enabled: !!p,
    staleTime: 60_000,
  });

  const variant = p ? findVariant(p.variants, choice) : undefined;
  const available = variant
    ? availability.data?.items.find((a) => a.sku === variant.sku)?.available
    : undefined;
  const options = useMemo(() => (p ? attributeOptions(p.variants) : []), [p]);
  const images = useMemo(() => (p ? [...p.images].sort((a, b) => a.position - b.position) : []), [p]);

  const add = useAddToCart();
  const wish = useMutation({
    mutationFn: () =>
      unwrap(api.PUT('/api/v1/users/me/wishlist/{product_id}', { params: { path: { product_id: p!.id } } })),
    onSuccess: () => track({ type: 'wishlist_added', product_id: p!.id }),
  });

  if (product.isPending) return <Spinner />;
  if (product.isError) {
    return (
      <div className="page">
        <h1>Product not found</h1>
        <p role="alert">{product.error.message}</p>
        <Link to="/">Back to the shop</Link>
      </div>
    );
  }
  const product_ = p!;
  const stockText =
    available === undefined
      ? variant?.in_stock
        ? 'In stock'
        : 'Checking availability…'
      : available <= 0
        ? 'Out of stock'
        : available < 5
          ? `Only ${available} left`
          : 'In stock';
  const canBuy = !!variant && (available === undefined ? variant.in_stock : available >= quantity);

  return (
    <div className="page product">
      <div className="product-layout">
        <div className="gallery">
          <ProductImage src={images[imageIndex]?.url} alt={images[imageIndex]?.alt_text || product_.name} size={560} eager />
          {images.length > 1 ? (
            <ul className="thumbs" aria-label="Images">
              {images.map((img, i) => (
                <li key={img.id}>
                  <button type="button" aria-pressed={i === imageIndex} onClick={() => setImageIndex(i)} aria-label={`Image ${i + 1}`}>
                    <ProductImage src={img.url} alt="" size={72} />
                  </button>
                </li>
              ))}
            </ul>
          ) : null}
        </div>
        <div className="buy-box">
          <p className="card-brand">{product_.brand}</p>
          <h1>{product_.name}</h1>
          <p className="big-price">
            <Price money={variant?.price ?? product_.min_price} compareAt={variant?.compare_at_price} />
          </p>
          {options.map(([name, values]) => (
            <fieldset key={name} className="picker">
              <legend>
                {name.charAt(0).toUpperCase() + name.slice(1)}: <strong>{choice[name]}</strong>
              </legend>
              {values.map((value) => (
                <label key={value} className={`option${choice[name] === value ? ' selected' : ''}`}>
                  <input
                    type="radio"
                    name={`attr-${name}`}
                    value={value}
                    checked={choice[name] === value}
                    onChange={() => {
                      setChoice(choose(product_.variants, choice, name, value));
                      setAdded(false);
                    }}
                  />
                  {value}
                </label>
              ))}
            </fieldset>
          ))}
          <p className={`stock ${available !== undefined && available <= 0 ? 'bad' : ''}`} aria-live="polite" data-testid="availability">
            {variant ? stockText : 'This combination is not available'}
          </p>
          <div className="row">
            <label>
              Quantity{' '}
              <input
                type="number"
                min={1}
                max={Math.max(1, Math.min(99, available ?? 99))}
                value={quantity}
                onChange={(e) => setQuantity(Math.max(1, Math.min(99, Number(e.target.value) || 1)))}
                className="qty"
              />
            </label>
            <button
              type="button"
              className="primary"
              disabled={!canBuy || add.isPending}
              onClick={() =>
                add.mutate(
                  { sku: variant!.sku, quantity, productId: product_.id },
                  { onSuccess: () => setAdded(true) },
                )
              }
            >
              {add.isPending ? 'Adding…' : 'Add to cart'}
            </button>
          </div>
          {added ? (
            <p className="ok" role="status">
              Added to your cart. <Link to="/cart">View cart</Link>
            </p>
          ) : null}
          <FormError message={add.isError ? formError(add.error) : undefined} />
          {session ? (
            <button type="button" className="secondary" disabled={wish.isPending || wish.isSuccess} onClick={() => wish.mutate()}>
              {wish.isSuccess ? 'In your wishlist' : 'Add to wishlist'}
            </button>
          ) : null}
          <FormError message={wish.isError ? formError(wish.error) : undefined} />
          {product_.description ? <p className="description">{product_.description}</p> : null}
          {product_.specifications.length > 0 ? (
            <dl className="specs">
              {product_.specifications.map((s) => (
                <div key={s.name}>
                  <dt>{s.name}</dt>
                  <dd>{s.value}</dd>
                </div>
              ))}
            </dl>
          ) : null}
          {variant ? <p className="muted small">SKU {variant.sku}</p> : null}
        </div>
      </div>
      {similar.data && similar.data.items.length > 0 ? (
        <section aria-labelledby="similar-h">
          <h2 id="similar-h">Similar items</h2>
          <ProductGrid items={similar.data.items.map(fromRecommended)} list="similar" label="Similar items" />
        </section>
      ) : null}
    </div>
  );
}
