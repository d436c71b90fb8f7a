// Checkout: a saved or new address, a saved or new card (the sandbox cards are listed), then
// `POST /api/v1/checkout` with an Idempotency-Key that is kept across retries and reloads
// (lib/idempotency.ts), and on to the order page.

import { useEffect, useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, Navigate, useNavigate } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { ApiError, fieldError, formError } from '../api/problem';
import { CART_KEY, useCart } from '../cart';
import { Field, FormError, Price, Spinner } from '../components/ui';
import { checkoutKey, settleCheckoutKey } from '../lib/idempotency';
import { useSession } from '../lib/session';

type Shipping = Schemas['ShippingAddress'];

export const SANDBOX_CARDS = [
  { number: '4242424242424242', outcome: 'Succeeds' },
  { number: '4000000000000002', outcome: 'Declined by the issuer' },
  { number: '4000000000000119', outcome: 'Fails twice, then succeeds (retries)' },
  { number: '5555555555554444', outcome: 'Succeeds (Mastercard)' },
] as const;

const EMPTY_ADDRESS = { name: '', line1: '', line2: '', city: '', region: '', postal_code: '', country: '', phone: '' };
type AddressForm = typeof EMPTY_ADDRESS;

/** The order's copy of a saved address. */
export function toShipping(a: Schemas['AddressView']): Shipping {
  return {
    name: a.recipient_name,
    line1: a.address_lines[0] ?? '',
    line2: a.address_lines[1] || null,
    city: a.locality,
    region: a.administrative_area || null,
    postal_code: a.postal_code,
    country: a.country_code,
    phone: a.phone || null,
  };
}

function formToShipping(f: AddressForm): Shipping {
  return {
    name: f.name.trim(),
    line1: f.line1.trim(),
    line2: f.line2.trim() || null,
    city: f.city.trim(),
    region: f.region.trim() || null,
    postal_code: f.postal_code.trim(),
    country: f.country.trim().toUpperCase(),
    phone: f.phone.trim() || null,
  };
}

/** Field of the address form named by an error of the address book or of checkout. */
const ADDRESS_FIELDS: Record<string, keyof AddressForm> = {
  recipient_name: 'name',
  address_lines: 'line1',
  'address_lines[0]': 'line1',
  'address_lines[1]': 'line2',
  locality: 'city',
  administrative_area: 'region',
  postal_code: 'postal_code',
  country_code: 'country',
  phone: 'phone',
};

function addressError(err: unknown, field: keyof AddressForm): string | undefined {
  if (!(err instanceof ApiError)) return undefined;
  for (const e of err.problem.errors ?? []) {
    const name = e.field.replace(/^shipping_address\./, '');
    if (name === field || ADDRESS_FIELDS[name] === field) return e.message;
  }
  return undefined;
}

const SHOWN_FIELDS = [
  ...Object.keys(EMPTY_ADDRESS).map((k) => `shipping_address.${k}`),
  ...Object.keys(ADDRESS_FIELDS),
  'card_number',
  'exp_month',
  'exp_year',
  'cvc',
  'holder_name',
];

export default function Checkout() {
  const session = useSession();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const cart = useCart();
  const addresses = useQuery({
    queryKey: ['addresses'],
    queryFn: () => unwrap(api.GET('/api/v1/users/me/addresses', {})),
    enabled: !!session,
  });
  const cards = useQuery({
    queryKey: ['payment-methods'],
    queryFn: () => unwrap(api.GET('/api/v1/payment-methods', {})),
    enabled: !!session,
  });

  const [addressId, setAddressId] = useState<string>('new');
  const [address, setAddress] = useState<AddressForm>(EMPTY_ADDRESS);
  const [saveAddress, setSaveAddress] = useState(true);
  const [cardId, setCardId] = useState<string>('new');
  const [card, setCard] = useState({ card_number: '', exp_month: '12', exp_year: String(new Date().getFullYear() + 3), cvc: '', holder_name: '' });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  // Start on the default (or first) saved address and the newest saved card.
  useEffect(() => {
    const list = addresses.data?.items ?? [];
    if (list.length && addressId === 'new' && !address.name) {
      setAddressId((list.find((a) => a.is_default_shipping) ?? list[0]).id);
    }
  }, [addresses.data]);
  useEffect(() => {
    const list = cards.data?.items ?? [];
    if (list.length && cardId === 'new' && !card.card_number) setCardId(list[list.length - 1].id);
  }, [cards.data]);

  if (!session) return <Navigate to="/login?next=/checkout" replace />;
  if (cart.isPending || addresses.isPending || cards.isPending) return <Spinner />;
  if (cart.isError || addresses.isError || cards.isError) {
    return (
      <div className="page">
        <h1>Checkout</h1>
        <p role="alert">{(cart.error ?? addresses.error ?? cards.error)?.message}</p>
      </div>
    );
  }
  const c = cart.data;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      // 1. The address: a saved one, or the form (saved to the address book when asked).
      let shipping: Shipping;
      if (addressId === 'new') {
        shipping = formToShipping(address);
        if (saveAddress) {
          const saved = await unwrap(
            api.POST('/api/v1/users/me/addresses', {
              body: {
                recipient_name: shipping.name,
                address_lines: [shipping.line1, shipping.line2].filter((l): l is string => !!l),
                locality: shipping.city,
                administrative_area: shipping.region ?? undefined,
                postal_code: shipping.postal_code,
                country_code: shipping.country,
                phone: shipping.phone ?? undefined,
                is_default_shipping: (addresses.data?.items.length ?? 0) === 0,
              },
            }),
          );
          await qc.invalidateQueries({ queryKey: ['addresses'] });
          setAddressId(saved.id);
          setAddress(EMPTY_ADDRESS);
          shipping = toShipping(saved);
        }
      } else {
        const saved = addresses.data!.items.find((a) => a.id === addressId)!;
        shipping = toShipping(saved);
      }
      // 2. The card: a saved one, or a new one saved first (a retry then reuses it, so the
      //    checkout body, and with it the idempotency key, stays the same).
      let paymentMethodId = cardId;
      if (cardId === 'new') {
        const pm = await unwrap(
          api.POST('/api/v1/payment-methods', {
            body: {
              card_number: card.card_number.replace(/\s+/g, ''),
              exp_month: Number(card.exp_month),
              exp_year: Number(card.exp_year),
              cvc: card.cvc,
              holder_name: card.holder_name || undefined,
            },
          }),
        );
        await qc.invalidateQueries({ queryKey: ['payment-methods'] });
        paymentMethodId = pm.id;
        setCardId(pm.id);
      }
      // 3. The order.
      const body = { payment_method_id: paymentMethodId, shipping_address: shipping };
      const key = checkoutKey(body);
      let order: Schemas['Order'];
      try {
        order = await unwrap(api.POST('/api/v1/checkout', { body, params: { header: { 'Idempotency-Key': key } } }));
      } catch (err) {
        // A definite refusal ends this attempt; timeouts and outages keep the key for the retry.
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && ![408, 429].includes(err.status)) {
          settleCheckoutKey();
        }
        throw err;
      }
      settleCheckoutKey();
      await qc.invalidateQueries({ queryKey: CART_KEY });
      await qc.invalidateQueries({ queryKey: ['orders'] });
      qc.setQueryData(['order', order.id], order);
      navigate(`/orders/${order.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const short = error instanceof ApiError && error.status === 409 ? error.problem.lines : null;
  const setA = (k: keyof AddressForm) => (e: React.ChangeEvent<HTMLInputElement>) => setAddress({ ...address, [k]: e.target.value });
  const setC = (k: keyof typeof card) => (e: React.ChangeEvent<HTMLInputElement>) => setCard({ ...card, [k]: e.target.value });

  if (c.items.length === 0) {
    return (
      <div className="page">
        <h1>Checkout</h1>
        <p>
          Your cart is empty. <Link to="/search">Find something</Link>
        </p>
      </div>
    );
  }

  return (
    <div className="page checkout">
      <h1>Checkout</h1>
      <form className="checkout-layout" onSubmit={submit} noValidate>
        <div>
          <FormError message={error ? formError(error, SHOWN_FIELDS) : undefined} />
          {short && short.length ? (
            <ul className="form-error" role="alert">
              {short.map((l) => (
                <li key={l.sku}>
                  {l.sku}: you asked for {l.requested}, {l.available} available. <Link to="/cart">Change the cart</Link>
                </li>
              ))}
            </ul>
          ) : null}

          <fieldset className="panel">
            <legend>Shipping address</legend>
            {addresses.data!.items.map((a) => (
              <label key={a.id} className="choice">
                <input type="radio" name="address" value={a.id} checked={addressId === a.id} onChange={() => setAddressId(a.id)} />
                <span>
                  <strong>{a.recipient_name}</strong>, {a.address_lines.join(', ')}, {a.postal_code} {a.locality}, {a.country_code}
                </span>
              </label>
            ))}
            <label className="choice">
              <input type="radio" name="address" value="new" checked={addressId === 'new'} onChange={() => setAddressId('new')} />
              <span>A new address</span>
            </label>
            {addressId === 'new' ? (
              <div className="subform">
                <Field label="Full name" autoComplete="shipping name" value={address.name} onChange={setA('name')} error={addressError(error, 'name')} required />
                <Field label="Address line 1" autoComplete="shipping address-line1" value={address.line1} onChange={setA('line1')} error={addressError(error, 'line1')} required />
                <Field label="Address line 2 (optional)" autoComplete="shipping address-line2" value={address.line2} onChange={setA('line2')} error={addressError(error, 'line2')} />
                <div className="row">
                  <Field label="Postal code" autoComplete="shipping postal-code" value={address.postal_code} onChange={setA('postal_code')} error={addressError(error, 'postal_code')} required />
                  <Field label="City" autoComplete="shipping address-level2" value={address.city} onChange={setA('city')} error={addressError(error, 'city')} required />
                </div>
                <div className="row">
                  <Field label="Region (optional)" autoComplete="shipping address-level1" value={address.region} onChange={setA('region')} error={addressError(error, 'region')} />
                  <Field label="Country code" autoComplete="shipping country" maxLength={2} placeholder="DE" value={address.country} onChange={setA('country')} error={addressError(error, 'country')} required />
                </div>
                <Field label="Phone (optional)" type="tel" autoComplete="shipping tel" placeholder="+4930123456" value={address.phone} onChange={setA('phone')} error={addressError(error, 'phone')} />
                <label className="check">
                  <input type="checkbox" checked={saveAddress} onChange={(e) => setSaveAddress(e.target.checked)} /> Save to my addresses
                </label>
              </div>
            ) : null}
          </fieldset>

          <fieldset className="panel">
            <legend>Payment</legend>
            {cards.data!.items.map((pm) => (
              <label key={pm.id} className="choice">
                <input type="radio" name="card" value={pm.id} checked={cardId === pm.id} onChange={() => setCardId(pm.id)} />
                <span>
                  {pm.brand} ending in {pm.last4}, expires {String(pm.exp_month).padStart(2, '0')}/{pm.exp_year}
                </span>
              </label>
            ))}
            <label className="choice">
              <input type="radio" name="card" value="new" checked={cardId === 'new'} onChange={() => setCardId('new')} />
              <span>A new card</span>
            </label>
            {cardId === 'new' ? (
              <div className="subform">
                <Field label="Card number" inputMode="numeric" autoComplete="cc-number" value={card.card_number} onChange={setC('card_number')} error={fieldError(error, 'card_number')} required />
                <div className="row">
                  <Field label="Expiry month" inputMode="numeric" autoComplete="cc-exp-month" value={card.exp_month} onChange={setC('exp_month')} error={fieldError(error, 'exp_month')} required />
                  <Field label="Expiry year" inputMode="numeric" autoComplete="cc-exp-year" value={card.exp_year} onChange={setC('exp_year')} error={fieldError(error, 'exp_year')} required />
                  <Field label="CVC" inputMode="numeric" autoComplete="cc-csc" value={card.cvc} onChange={setC('cvc')} error={fieldError(error, 'cvc')} required />
                </div>
                <Field label="Name on card (optional)" autoComplete="cc-name" value={card.holder_name} onChange={setC('holder_name')} error={fieldError(error, 'holder_name')} />
                <details className="sandbox" open>
                  <summary>Sandbox test cards</summary>
                  <p className="small muted">This shop runs against the sandbox payment provider: no real money moves. Any future expiry and any CVC work.</p>
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Card number</th>
                        <th scope="col">Outcome</th>
                        <th scope="col"><span className="visually-hidden">Action</span></th>
                      </tr>
                    </thead>
                    <tbody>
                      {SANDBOX_CARDS.map((s) => (
                        <tr key={s.number}>
                          <td><code>{s.number}</code></td>
                          <td>{s.outcome}</td>
                          <td>
                            <button
                              type="button"
                              className="link"
                              aria-label={`Use card ${s.number}`}
                              onClick={() => setCard({ ...card, card_number: s.number, cvc: card.cvc || '123' })}
                            >
                              Use
                            </button>
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </details>
              </div>
            ) : null}
          </fieldset>
        </div>

        <aside className="panel summary" aria-labelledby="summary-h">
          <h2 id="summary-h">Order summary</h2>
          <ul className="plain">
            {c.items.map((l) => (
              <li key={l.sku} className="summary-line">
                <span>
                  {l.quantity} × {l.name ?? l.sku}
                </span>
                <Price money={l.line_total} />
              </li>
            ))}
          </ul>
          <p className="summary-total">
            Subtotal <strong><Price money={c.subtotal} /></strong>
          </p>
          <p className="small muted">The final total is priced by the shop when you place the order.</p>
          <button type="submit" className="primary wide" disabled={busy}>
            {busy ? 'Placing order…' : 'Place order'}
          </button>
        </aside>
      </form>
    </div>
  );
}
