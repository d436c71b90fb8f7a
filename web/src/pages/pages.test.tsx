import { describe, expect, it } from 'vitest';
import { renderToString } from 'react-dom/server';
import { Field, StatusBadge } from '../components/ui';
import { toShipping } from './Checkout';
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
  it('turns a saved address into the order address', () => {
    const s = toShipping({
      id: '0194c1e4-7b1a-7c3e-9d2f-3a4b5c6d7e8f',
      label: 'Home',
      recipient_name: 'Ada Lovelace',
      organization: '',
      address_lines: ['Unter den Linden 1', 'Hinterhaus'],
      locality: 'Berlin',
      administrative_area: '',
      postal_code: '10117',
      country_code: 'DE',
      phone: '',
      is_default_shipping: true,
      is_default_billing: false,
    });
    expect(s).toEqual({
      name: 'Ada Lovelace',
      line1: 'Unter den Linden 1',
      line2: 'Hinterhaus',
      city: 'Berlin',
      region: null,
      postal_code: '10117',
      country: 'DE',
      phone: null,
    });
  });
});

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
