// Cart: lines with quantities, removal and availability warnings; totals as the API gives them,
// and an estimate of shipping, discounts and tax for a country (the default address's, or one
// the shopper types).

import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import { useCart, useCartEstimate, usePreferredCurrency, useRemoveCartLine, useUpdateCartLine } from '../cart';
import { TotalsList } from '../components/Totals';
import { Field, FormError, Price, Spinner } from '../components/ui';
import { formError, toApiError } from '../api/problem';
import { useSession } from '../lib/session';
import { isCountryCode } from '../lib/totals';

/** What the cart would cost delivered to a country, with the cheapest shipping method. */
function CartEstimate() {
  const session = useSession();
  const addresses = useQuery({
    queryKey: ['addresses'],
    queryFn: () => unwrap(api.GET('/api/v1/users/me/addresses', {})),
    enabled: !!session,
  });
  const list = addresses.data?.items ?? [];
  const home = list.find((a) => a.is_default_shipping) ?? list[0];
  // null: the default address's country (and region) until the shopper types another.
  const [typed, setTyped] = useState<string | null>(null);
  const country = (typed ?? home?.country_code ?? '').trim();
  const preferred = usePreferredCurrency();
  const est = useCartEstimate(
    { country, region: typed === null ? home?.administrative_area : null, currency: preferred.currency },
    preferred.ready && isCountryCode(country),
  );
  const estimate = isCountryCode(country) ? est.data?.estimate : undefined;
  const problem = isCountryCode(country) ? est.data?.estimate_problem : undefined;
  const method = estimate?.shipping_methods.find((m) => m.id === estimate.shipping_method_id);
  return (
    <section className="cart-estimate" aria-labelledby="estimate-h">
      <h2 id="estimate-h">Estimated total</h2>
      <Field
        label="Ship to (country code)"
        maxLength={2}
        placeholder="DE"
        autoComplete="country"
        value={typed ?? home?.country_code ?? ''}
        onChange={(e) => setTyped(e.target.value.toUpperCase())}
        error={est.isError ? formError(est.error) : undefined}
        hint={method ? `Cheapest shipping: ${method.name}; choose another at checkout.` : undefined}
      />
      {estimate ? (
        <TotalsList breakdown={estimate.breakdown} shippingName={method?.name} hasShipping={!!method} testId="estimate" />
      ) : null}
      {problem ? <p className="warn-text" role="alert">{formError(toApiError(problem.status ?? 422, problem))}</p> : null}
    </section>
  );
}

export default function CartPage() {
  const cart = useCart();
  const update = useUpdateCartLine();
  const remove = useRemoveCartLine();
  const session = useSession();

  if (cart.isPending) return <Spinner />;
  if (cart.isError) {
    return (
      <div className="page">
        <h1>Your cart</h1>
        <p role="alert">{cart.error.message}</p>
      </div>
    );
  }
  const c = cart.data;
  const blocked = c.items.some((l) => !l.purchasable || !l.in_stock);

  return (
    <div className="page cart">
      <h1>Your cart</h1>
      {c.items.length === 0 ? (
        <p>
          Your cart is empty. <Link to="/search">Start shopping</Link>
        </p>
      ) : (
        <>
          <ul className="cart-lines" aria-label="Cart lines">
            {c.items.map((l) => (
              <li key={l.sku} className="cart-line" data-testid="cart-line">
                <div className="cart-line-main">
                  <strong>{l.name ?? l.sku}</strong>
                  <span className="muted small">SKU {l.sku}</span>
                  {!l.purchasable ? (
                    <span className="badge bad" role="note">No longer sold: remove it to check out</span>
                  ) : !l.in_stock ? (
                    <span className="badge warn" role="note">
                      {l.available > 0 ? `Only ${l.available} available: lower the quantity` : 'Out of stock'}
                    </span>
                  ) : null}
                </div>
                <label>
                  <span className="visually-hidden">Quantity of {l.name ?? l.sku}</span>
                  <input
                    type="number"
                    className="qty"
                    min={1}
                    max={99}
                    defaultValue={l.quantity}
                    key={`${l.sku}-${l.quantity}`}
                    onBlur={(e) => {
                      const q = Math.max(1, Math.min(99, Number(e.target.value) || 1));
                      if (q !== l.quantity) update.mutate({ sku: l.sku, quantity: q });
                    }}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
                    }}
                  />
                </label>
                <span className="line-total">
                  <Price money={l.line_total} />
                  {l.quantity > 1 && l.unit_price ? (
                    <small className="muted">
                      {' '}
                      (<Price money={l.unit_price} /> each)
                    </small>
                  ) : null}
                </span>
                <button
                  type="button"
                  className="link"
                  onClick={() => remove.mutate({ sku: l.sku, quantity: l.quantity, productId: l.product_id })}
                  aria-label={`Remove ${l.name ?? l.sku}`}
                >
                  Remove
                </button>
              </li>
            ))}
          </ul>
          <FormError message={update.isError ? formError(update.error) : remove.isError ? formError(remove.error) : undefined} />
          <div className="cart-summary">
            <p>
              {c.item_count} {c.item_count === 1 ? 'item' : 'items'} · Subtotal{' '}
              <strong data-testid="cart-subtotal">
                <Price money={c.subtotal} />
              </strong>
            </p>
            <CartEstimate />
            {blocked ? <p className="warn-text">Fix the lines marked above before checking out.</p> : null}
            {session ? (
              <Link to="/checkout" className={`button primary${blocked ? ' disabled' : ''}`} aria-disabled={blocked}>
                Check out
              </Link>
            ) : (
              <p>
                <Link to="/register?next=/checkout" className="button primary">
                  Sign up to check out
                </Link>{' '}
                or <Link to="/login?next=/checkout">log in</Link>. Your cart comes with you.
              </p>
            )}
          </div>
        </>
      )}
    </div>
  );
}
