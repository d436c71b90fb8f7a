// Checkout: a saved or new address, a shipping method and a promotion code priced by the cart's
// estimate (the summary shows exactly what the API will charge), a saved or new card (the
// sandbox cards are listed), then `POST /api/v1/checkout` with an Idempotency-Key that is kept
// across retries and reloads (lib/idempotency.ts), and on to the order page.

import { useEffect, useId, useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, Navigate, useNavigate } from 'react-router';
import { api, countryCode, unwrap, type Schemas } from '../api/client';
import { ApiError, fieldError, formError, toApiError } from '../api/problem';
import { CART_KEY, ESTIMATE_KEY, useCart, useCartEstimate, usePreferredCurrency } from '../cart';
import { TotalsList } from '../components/Totals';
import { Field, FormError, Price, Spinner } from '../components/ui';
import { checkoutKey, settleCheckoutKey } from '../lib/idempotency';
import { formatMoney } from '../lib/money';
import { useSession } from '../lib/session';
import { deliveryText, isCountryCode, promotionCodeProblem } from '../lib/totals';

type Shipping = Schemas['Address'];

export const SANDBOX_CARDS = [
  { number: '4242424242424242', outcome: 'Succeeds' },
  { number: '4000000000000002', outcome: 'Declined by the issuer' },
  { number: '4000000000000119', outcome: 'Fails twice, then succeeds (retries)' },
  { number: '5555555555554444', outcome: 'Succeeds (Mastercard)' },
] as const;

const EMPTY_ADDRESS = { name: '', line1: '', line2: '', city: '', region: '', postal_code: '', country: '', phone: '' };
type AddressForm = typeof EMPTY_ADDRESS;

/** The form as the one address shape (what the address book saves and checkout takes). */
export function formToShipping(f: AddressForm): Shipping {
  return {
    recipient_name: f.name.trim(),
    organization: '',
    address_lines: [f.line1.trim(), f.line2.trim()].filter((l) => !!l),
    locality: f.city.trim(),
    administrative_area: f.region.trim(),
    postal_code: f.postal_code.trim(),
    country_code: countryCode(f.country),
    phone: f.phone.trim(),
    // The document pairs each country with its postal code shape; what a shopper typed is
    // checked by the service, whose field errors the form shows.
  } as Shipping;
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

/** Fields whose problems sit next to their control whatever the address. */
const CONTROL_FIELDS = ['shipping_method_id', 'promotion_code', 'card_number', 'exp_month', 'exp_year', 'cvc', 'holder_name'];

/** Fields whose problems sit next to their control (the rest go on top of the form). The
 *  address form's fields only while it is shown; a saved address's problems go on top. */
export const SHOWN_FIELDS = [
  ...Object.keys(ADDRESS_FIELDS).map((k) => `shipping_address.${k}`),
  ...Object.keys(ADDRESS_FIELDS),
  ...CONTROL_FIELDS,
];

/** `value`, once it stopped changing for `ms` (typing a country asks for one estimate). */
function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  const key = JSON.stringify(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [key, ms]);
  return v;
}

/** A shipping method as its radio button reads: name, price for this cart, delivery days. */
export function methodLabel(m: Schemas['ShippingOption']): { name: string; price: string; days?: string } {
  const price = m.amount == null ? '' : m.amount === 0 ? 'Free' : formatMoney({ amount: m.amount, currency: m.currency });
  return { name: m.name, price, days: deliveryText(m.delivery_days) };
}

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
  // The method the shopper picked (null: the estimate's cheapest), the code applied (the one
  // sent), the code being typed, and a currency chosen over the saved preference.
  const [methodId, setMethodId] = useState<string | null>(null);
  const [code, setCode] = useState('');
  const [codeInput, setCodeInput] = useState('');
  const [codeProblem, setCodeProblem] = useState<string | undefined>();
  const [currencyOverride, setCurrencyOverride] = useState<string | null>(null);
  const methodsErrId = useId();

  // Where the order goes, as far as pricing cares: the saved address or the form's country.
  const saved = addressId === 'new' ? undefined : addresses.data?.items.find((a) => a.id === addressId);
  const typed = saved
    ? { country: saved.country_code, region: saved.administrative_area }
    : { country: address.country.trim(), region: address.region.trim() };
  const dest = useDebounced(typed, 300);
  const destSettled = dest.country === typed.country && dest.region === typed.region;
  const hasCountry = isCountryCode(dest.country);
  const preferred = usePreferredCurrency();
  const currency = currencyOverride ?? preferred.currency;
  const est = useCartEstimate(
    {
      currency,
      country: hasCountry ? dest.country : null,
      region: hasCountry ? dest.region : null,
      shippingMethodId: methodId,
      promotionCode: code,
    },
    !!session && preferred.ready && (hasCountry || !!code),
  );
  const estimateAsked = preferred.ready && (hasCountry || !!code);
  const estimate = estimateAsked ? est.data?.estimate ?? undefined : undefined;
  const estimateProblem = estimateAsked && est.data?.estimate_problem ? toApiError(est.data.estimate_problem.status ?? 422, est.data.estimate_problem) : undefined;
  // Until the summary on screen is the price of what would be sent, the order waits.
  const pricing =
    (!destSettled && isCountryCode(typed.country)) || (estimateAsked && (est.isFetching || est.isPlaceholderData));

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
      // 1. The address: a saved one by its id, or the form (saved to the address book when
      //    asked, then sent by its id too).
      let where: { shipping_address: Shipping } | { shipping_address_id: string };
      if (addressId === 'new') {
        const shipping = formToShipping(address);
        if (saveAddress) {
          const saved = await unwrap(
            api.POST('/api/v1/users/me/addresses', {
              body: { ...shipping, is_default_shipping: (addresses.data?.items.length ?? 0) === 0 },
            }),
          );
          await qc.invalidateQueries({ queryKey: ['addresses'] });
          setAddressId(saved.id);
          setAddress(EMPTY_ADDRESS);
          where = { shipping_address_id: saved.id };
        } else {
          where = { shipping_address: shipping };
        }
      } else {
        where = { shipping_address_id: addressId };
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
      // 3. The order, priced as the summary shows it: the method and currency of the estimate
      //    (undefined fields are left out of the body and of its fingerprint).
      const body = {
        payment_method_id: paymentMethodId,
        ...where,
        currency: currency ?? estimate?.currency ?? undefined,
        shipping_method_id: estimate?.shipping_method_id ?? undefined,
        promotion_code: code || undefined,
      };
      const key = checkoutKey(body);
      let order: Schemas['Order'];
      try {
        order = await unwrap(api.POST('/api/v1/checkout', { body, params: { header: { 'Idempotency-Key': key } } }));
      } catch (err) {
        // A definite refusal ends this attempt; timeouts and outages keep the key for the retry.
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && ![408, 429].includes(err.status)) {
          settleCheckoutKey();
          // A code or promotion that no longer applies, a method that does not: show the
          // prices as they are now.
          if (err.status === 409 || err.status === 422) void qc.invalidateQueries({ queryKey: ESTIMATE_KEY });
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
  const shownFields = addressId === 'new' ? SHOWN_FIELDS : CONTROL_FIELDS;

  const applyCode = () => {
    const problem = promotionCodeProblem(codeInput);
    setCodeProblem(problem);
    if (problem) return;
    setError(null);
    setCode(codeInput.trim().toUpperCase());
  };
  const removeCode = () => {
    setError(null);
    setCodeProblem(undefined);
    setCode('');
    setCodeInput('');
  };
  const codeStatus = estimate?.code && estimate.code.code === code ? estimate.code : undefined;
  const codeDiscount = codeStatus?.applied ? estimate!.breakdown.applied.find((a) => a.code === codeStatus.code) : undefined;
  const codeError =
    codeProblem ??
    (codeStatus && !codeStatus.applied ? `${codeStatus.code} cannot be used: ${codeStatus.reason ?? 'it does not apply to this cart'}.` : undefined) ??
    fieldError(error, 'promotion_code') ??
    fieldError(est.error, 'promotion_code');
  const methods = estimate?.shipping_methods ?? [];
  const methodError = fieldError(error, 'shipping_method_id');
  const names = new Map((est.data?.items ?? c.items).map((l) => [l.sku, l.name ?? l.sku]));
  const chosenMethod = methods.find((m) => m.id === estimate?.shipping_method_id);
  // The pick shows at once; the estimate then prices it (or its cheapest when the pick does not
  // ship to this address).
  const shownMethodId = methodId && methods.some((m) => m.id === methodId) ? methodId : estimate?.shipping_method_id;
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
          <FormError message={error ? formError(error, shownFields) : undefined} />
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

          <fieldset className="panel" aria-describedby={methodError ? methodsErrId : undefined} data-testid="shipping-methods">
            <legend>Shipping method</legend>
            {!hasCountry ? (
              <p className="muted">Enter the address to see how it can be shipped.</p>
            ) : !estimate && (est.isPending || pricing) ? (
              <Spinner label="Finding shipping options" />
            ) : estimate && methods.length === 0 ? (
              <p className="muted">There is no shipping method to choose for this address.</p>
            ) : (
              methods.map((m) => {
                const l = methodLabel(m);
                return (
                  <label key={m.id} className="choice">
                    <input
                      type="radio"
                      name="shipping-method"
                      value={m.id}
                      checked={shownMethodId === m.id}
                      onChange={() => {
                        setError(null);
                        setMethodId(m.id);
                      }}
                    />
                    <span className="method">
                      <strong>{l.name}</strong>
                      <span className="price">{l.price}</span>
                      {l.days ? <span className="muted small">{l.days}</span> : null}
                    </span>
                  </label>
                );
              })
            )}
            {methodError ? (
              <small id={methodsErrId} className="field-error" role="alert">
                {methodError}
              </small>
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
          {estimate ? (
            <ul className="plain">
              {estimate.breakdown.lines.map((l) => (
                <li key={l.sku} className="summary-line">
                  <span>
                    {l.quantity} × {names.get(l.sku) ?? l.sku}
                  </span>
                  <Price money={{ amount: l.gross, currency: estimate.breakdown.currency }} />
                </li>
              ))}
            </ul>
          ) : (
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
          )}

          <div className="promo">
            <div className="row">
              <Field
                label="Promotion code"
                autoComplete="off"
                autoCapitalize="characters"
                spellCheck={false}
                value={codeInput}
                onChange={(e) => {
                  setCodeInput(e.target.value);
                  setCodeProblem(undefined);
                }}
                onKeyDown={(e) => {
                  // Enter applies the code; it must not place the order.
                  if (e.key === 'Enter') {
                    e.preventDefault();
                    applyCode();
                  }
                }}
                error={codeError}
                hint={
                  codeStatus?.applied ? (
                    <span className="ok" role="status">
                      {codeStatus.code} applied
                      {codeDiscount ? `: −${formatMoney({ amount: codeDiscount.amount, currency: estimate!.breakdown.currency })}` : ''}
                    </span>
                  ) : undefined
                }
              />
              <button type="button" className="secondary" onClick={applyCode} disabled={!codeInput.trim() || codeInput.trim().toUpperCase() === code}>
                Apply
              </button>
              {code ? (
                <button type="button" className="link" onClick={removeCode} aria-label={`Remove code ${code}`}>
                  Remove
                </button>
              ) : null}
            </div>
          </div>

          {estimate ? (
            <TotalsList breakdown={estimate.breakdown} shippingName={chosenMethod?.name} hasShipping={!!chosenMethod} testId="checkout" />
          ) : (
            <p className="summary-total">
              Subtotal <strong><Price money={c.subtotal} /></strong>
            </p>
          )}
          {estimateProblem ? (
            <div className="form-error" role="alert">
              <p>{formError(estimateProblem)}</p>
              {currency && c.subtotal && c.subtotal.currency !== currency ? (
                <button type="button" className="secondary" onClick={() => setCurrencyOverride(c.subtotal!.currency)}>
                  Pay in {c.subtotal.currency} instead
                </button>
              ) : null}
            </div>
          ) : null}
          {!estimate ? <p className="small muted">Shipping and tax are added once you give the address.</p> : null}
          {est.isError && !fieldError(est.error, 'promotion_code') ? (
            <p className="small warn-text" role="alert">
              The total cannot be priced right now ({est.error.message}); the shop prices the order when you place it.
            </p>
          ) : null}
          <button type="submit" className="primary wide" disabled={busy || pricing}>
            {busy ? 'Placing order…' : pricing ? 'Updating the total…' : 'Place order'}
          </button>
        </aside>
      </form>
    </div>
  );
}
