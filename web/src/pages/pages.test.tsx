import { describe, expect, it } from 'vitest';
import { renderToString } from 'react-dom/server';
import { Field, StatusBadge } from '../components/ui';
import { TotalsList } from '../components/Totals';
import { SHOWN_FIELDS, formToShipping, methodLabel } from './Checkout';
import { formError, toApiError } from '../api/problem';
import { safeNext } from './Login';
import { orderMessage } from './Order';

describe('order page', () => {
  const at = '2026-12-04T10:00:00Z';
  it('says why a cancelled order was cancelled', () => {
    const msg = orderMessage({
      status: 'cancelled',
      status_history: [
        { status: 'pending_payment', reason: 'checkout_completed', at },
        { status: 'cancelled', reason: 'payment_failed', at },
      ],
    });
    expect(msg).toMatch(/declined/);
    expect(msg).toMatch(/not charged/);
  });
  it('tells a pending order is being followed and a paid one is done', () => {
    expect(orderMessage({ status: 'pending_payment', status_history: [] })).toMatch(/updates by itself/);
    expect(orderMessage({ status: 'paid', status_history: [] })).toMatch(/Payment received/);
  });
});

describe('login redirect', () => {
  it('only follows same-site paths', () => {
    expect(safeNext('/checkout')).toBe('/checkout');
    expect(safeNext('//evil.example/x')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
});

describe('checkout', () => {
  it('turns the address form into the one address shape', () => {
    const s = formToShipping({
      name: ' Ada Lovelace ',
      line1: 'Unter den Linden 1',
      line2: ' ',
      city: 'Berlin',
      region: '',
      postal_code: '10117',
      country: 'de',
      phone: '',
    });
    expect(s).toEqual({
      recipient_name: 'Ada Lovelace',
      organization: '',
      address_lines: ['Unter den Linden 1'],
      locality: 'Berlin',
      administrative_area: '',
      postal_code: '10117',
      country_code: 'DE',
      phone: '',
    });
  });
});

describe('checkout totals', () => {
  const option = {
    id: '0194c1e4-0000-7000-8000-000000000001',
    name: 'Express',
    zone: 'EU',
    currency: 'EUR',
    rate: { type: 'flat' as const, amount: 990 },
    free_over: null,
    delivery_days: { min: 1, max: 2 },
    amount: 990,
  };
  it('label a shipping method with its price for this cart and its delivery days', () => {
    expect(methodLabel(option)).toEqual({ name: 'Express', price: formatMoneyEUR(990), days: '1–2 business days' });
    expect(methodLabel({ ...option, name: 'Standard', amount: 0, delivery_days: null })).toEqual({ name: 'Standard', price: 'Free', days: undefined });
  });
  it('show problems of the method and the code next to their controls, not on top', () => {
    const e = toApiError(409, {
      status: 409,
      detail: 'The promotion code OLD cannot be used: it ended. Remove it or try another.',
      errors: [{ field: 'promotion_code', message: 'it ended' }],
    });
    expect(formError(e, SHOWN_FIELDS)).toBe('The promotion code OLD cannot be used: it ended. Remove it or try another.');
    expect(SHOWN_FIELDS).toContain('shipping_method_id');
    expect(SHOWN_FIELDS).toContain('promotion_code');
  });
  it('render the summary with the total last', () => {
    const html = renderToString(
      <TotalsList
        testId="t"
        shippingName="Express"
        breakdown={{
          currency: 'EUR',
          mode: 'tax_inclusive',
          lines: [],
          subtotal: 9998,
          discount_total: 1000,
          shipping: 990,
          shipping_discount: 0,
          shipping_tax: 158,
          tax_total: 1595,
          taxes: [{ rate_ppm: 190000, base: 9988, amount: 1595 }],
          applied: [{ promotion_id: 'p1', code: 'WELCOME10', amount: 1000 }],
          total: 9988,
        }}
      />,
    );
    expect(html).toContain('Discount (WELCOME10)');
    expect(html).toContain('−€10.00');
    expect(html).toContain('Shipping (Express)');
    expect(html).toContain('incl. VAT 19%');
    expect(html).toMatch(/data-testid="t-total"><strong class="price">[^<]*99\.88/);
  });
});

function formatMoneyEUR(amount: number) {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: 'EUR' }).format(amount / 100);
}

describe('form fields', () => {
  it('tie the API error to the input for assistive technology', () => {
    const html = renderToString(<Field label="E-mail" value="x" readOnly error="is not an e-mail address" />);
    expect(html).toContain('aria-invalid="true"');
    const describedBy = /aria-describedby="([^"]+)"/.exec(html)?.[1];
    expect(describedBy).toBeTruthy();
    expect(html).toContain(`id="${describedBy}"`);
    expect(html).toContain('is not an e-mail address');
    expect(html).toMatch(/<label for="([^"]+)">E-mail<\/label><input id="\1"/);
  });
  it('have no error state without an error', () => {
    const html = renderToString(<Field label="City" value="Berlin" readOnly />);
    expect(html).not.toContain('aria-invalid');
  });
  it('badges read as words, not codes', () => {
    expect(renderToString(<StatusBadge status="pending_payment" />)).toContain('Awaiting payment');
  });
});
