import { beforeEach, describe, expect, it, vi } from 'vitest';
import { checkoutKey, fingerprint, settleCheckoutKey } from './idempotency';
import { formatMoney, toMinor } from './money';
import { activeFilterCount, apiQuery, parseFilters, toParams, toggleAttr, toggleBrand } from './search';
import { KEYS, memoryStore, setBackingStore, store } from './storage';
import { Tracker, type EventBatch } from './tracking';
import { attributeOptions, choose, findVariant, initialChoice } from './variants';
import { deliveryText, estimateQuery, formatRatePpm, isCountryCode, promotionCodeProblem, summaryRows, taxLabel, type Breakdown } from './totals';
import { ApiError, fieldError, formError, toApiError } from '../api/problem';

beforeEach(() => setBackingStore(memoryStore()));

describe('checkout idempotency key', () => {
  const body = { payment_method_id: 'pm-1', shipping_address: { city: 'Berlin', name: 'Ada' } };

  it('is kept for the same body across retries, whatever the key order', () => {
    let n = 0;
    const make = () => `key-${++n}`;
    const first = checkoutKey(body, make);
    const reordered = { shipping_address: { name: 'Ada', city: 'Berlin' }, payment_method_id: 'pm-1' };
    expect(checkoutKey(reordered, make)).toBe(first);
    expect(n).toBe(1);
  });

  it('changes with the body and after the answer settled', () => {
    let n = 0;
    const make = () => `key-${++n}`;
    const first = checkoutKey(body, make);
    const other = checkoutKey({ ...body, payment_method_id: 'pm-2' }, make);
    expect(other).not.toBe(first);
    settleCheckoutKey();
    expect(checkoutKey({ ...body, payment_method_id: 'pm-2' }, make)).not.toBe(other);
  });

  it('survives a reload (lives in storage)', () => {
    const key = checkoutKey(body, () => 'persisted');
    expect(store.get(KEYS.checkout)).toContain('persisted');
    expect(checkoutKey(body, () => 'fresh')).toBe(key);
  });

  it('fingerprints ignore undefined fields', () => {
    expect(fingerprint({ a: 1, b: undefined })).toBe(fingerprint({ a: 1 }));
  });
});

describe('money', () => {
  it('formats minor units by the currency', () => {
    expect(formatMoney({ amount: 1999, currency: 'EUR' }, 'en-US')).toBe('€19.99');
    expect(formatMoney({ amount: 500, currency: 'JPY' }, 'en-US')).toBe('¥500');
    expect(formatMoney(null)).toBe('');
  });
  it('converts whole units to minor units without float drift', () => {
    expect(toMinor(19.99, 'EUR')).toBe(1999);
    expect(toMinor(500, 'JPY')).toBe(500);
  });
});

describe('search filters', () => {
  it('round-trip through the URL', () => {
    const p = new URLSearchParams('q=headphnes&brand=Acoustica,Sonora&attr.color=black&in_stock=true&sort=price_asc&min_price=1000');
    const f = parseFilters(p);
    expect(f.brands).toEqual(['Acoustica', 'Sonora']);
    expect(f.attrs).toEqual({ color: ['black'] });
    expect(f.minPrice).toBe(1000);
    expect(parseFilters(toParams(f))).toEqual(f);
  });

  it('toggle facets and count them', () => {
    let f = parseFilters(new URLSearchParams('q=mug'));
    f = toggleBrand(f, 'Brewline');
    f = toggleAttr(f, 'color', 'red');
    f = toggleAttr(f, 'color', 'blue');
    expect(activeFilterCount(f)).toBe(3);
    f = toggleAttr(toggleAttr(f, 'color', 'red'), 'color', 'blue');
    expect(f.attrs).toEqual({});
    expect(toggleBrand(f, 'Brewline').brands).toEqual([]);
  });

  it('become the API query with cursor and limit', () => {
    const f = parseFilters(new URLSearchParams('q=x&attr.size=M,L'));
    expect(apiQuery(f, 'c1', 10)).toEqual({ q: 'x', 'attr.size': 'M,L', cursor: 'c1', limit: '10' });
  });

  it('ignore bad numbers', () => {
    expect(parseFilters(new URLSearchParams('min_price=abc&max_price=-5')).minPrice).toBeNull();
  });
});

describe('variant picker', () => {
  const variants = [
    { sku: 'A-BLK-M', attributes: { color: 'black', size: 'M' }, in_stock: false },
    { sku: 'A-BLK-L', attributes: { color: 'black', size: 'L' }, in_stock: true },
    { sku: 'A-WHT-L', attributes: { color: 'white', size: 'L' }, in_stock: true },
  ];
  it('lists the options and starts on a variant in stock', () => {
    expect(attributeOptions(variants)).toEqual([
      ['color', ['black', 'white']],
      ['size', ['M', 'L']],
    ]);
    expect(findVariant(variants, initialChoice(variants))?.sku).toBe('A-BLK-L');
  });
  it('picking a value always lands on a real variant', () => {
    const c = choose(variants, { color: 'black', size: 'M' }, 'color', 'white');
    expect(findVariant(variants, c)?.sku).toBe('A-WHT-L');
  });
});

describe('problems', () => {
  it('put field messages next to their field and the rest on top', () => {
    const e = toApiError(422, {
      status: 422,
      detail: 'Invalid fields.',
      errors: [
        { field: 'email', message: 'is not an e-mail address' },
        { field: 'shipping_address.country', message: 'must be ISO 3166-1 alpha-2' },
      ],
    });
    expect(e).toBeInstanceOf(ApiError);
    expect(fieldError(e, 'email')).toBe('is not an e-mail address');
    expect(formError(e, ['email'])).toBe('Invalid fields. shipping_address.country: must be ISO 3166-1 alpha-2');
  });
  it('explain a network failure', () => {
    expect(toApiError(0, undefined).message).toMatch(/cannot reach/);
  });
});

describe('tracker', () => {
  it('batches, carries the anonymous id the API returned, and keeps events it could not send', async () => {
    vi.useFakeTimers();
    const sent: EventBatch[] = [];
    let fail = false;
    const t = new Tracker(
      async (b) => {
        if (fail) throw new Error('offline');
        sent.push(b);
        return { anonymous_id: 'anon-1' };
      },
      { maxBatch: 2, flushAfterMs: 1000 },
      's-test',
    );
    t.track({ type: 'product_viewed', product_id: 'p1' });
    expect(sent).toHaveLength(0);
    t.track({ type: 'product_clicked', product_id: 'p2', list: 'search', position: 1 });
    await vi.runAllTimersAsync();
    expect(sent).toHaveLength(1);
    expect(sent[0].events).toHaveLength(2);
    expect(sent[0].anonymous_id).toBeUndefined();
    expect(sent[0].session_id).toBe('s-test');

    t.track({ type: 'search_performed', query: 'mug', results_count: 3 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent[1].anonymous_id).toBe('anon-1');

    fail = true;
    t.track({ type: 'cart_item_added', product_id: 'p1', sku: 'S', quantity: 1 });
    await t.flush(true);
    expect(t.pending).toBe(1);
    fail = false;
    await t.flush(true);
    expect(t.pending).toBe(0);
    expect(sent[2].events[0].type).toBe('cart_item_added');
    vi.useRealTimers();
  });
});

describe('checkout totals', () => {
  it('format tax rates in ppm as percentages without float noise', () => {
    expect(formatRatePpm(190000)).toBe('19%');
    expect(formatRatePpm(72500)).toBe('7.25%');
    expect(formatRatePpm(88750)).toBe('8.875%');
    expect(formatRatePpm(70000)).toBe('7%');
    expect(formatRatePpm(1)).toBe('0.0001%');
    expect(formatRatePpm(0)).toBe('0%');
    expect(taxLabel('tax_inclusive', 190000)).toBe('incl. VAT 19%');
    expect(taxLabel('tax_exclusive', 72500)).toBe('Tax 7.25%');
  });

  it('build the estimate query without empty values (the API refuses an empty country)', () => {
    expect(estimateQuery({ country: ' de ', region: '', currency: 'eur', shippingMethodId: null, promotionCode: ' welcome10 ' })).toEqual({
      country: 'DE',
      currency: 'EUR',
      promotion_code: 'WELCOME10',
    });
    expect(estimateQuery({ country: 'US', region: 'US-CA', shippingMethodId: 'm-1' })).toEqual({
      country: 'US',
      region: 'US-CA',
      shipping_method_id: 'm-1',
    });
    expect(estimateQuery({})).toEqual({});
  });

  it('check country codes and promotion codes as the API does', () => {
    expect(isCountryCode('DE')).toBe(true);
    expect(isCountryCode('D')).toBe(false);
    expect(isCountryCode('Germany')).toBe(false);
    expect(promotionCodeProblem('welcome10')).toBeUndefined();
    expect(promotionCodeProblem('ab')).toMatch(/3 to 32/);
    expect(promotionCodeProblem('TEN OFF')).toMatch(/3 to 32/);
    expect(promotionCodeProblem(' ')).toMatch(/Enter/);
  });

  it('say how long delivery takes', () => {
    expect(deliveryText({ min: 1, max: 2 })).toBe('1–2 business days');
    expect(deliveryText({ min: 1, max: 1 })).toBe('1 business day');
    expect(deliveryText({ min: 3, max: 3 })).toBe('3 business days');
    expect(deliveryText(null)).toBeUndefined();
  });

  // 99.98 EUR, VAT-inclusive, Express 9.90, 10% off with a code.
  const inclusive: Breakdown = {
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
  };

  it('lay out a breakdown: subtotal, discounts with their code, shipping, tax per rate, total', () => {
    const rows = summaryRows(inclusive, { shippingName: 'Express' });
    expect(rows.map((r) => [r.label, r.amount])).toEqual([
      ['Subtotal', 9998],
      ['Discount (WELCOME10)', -1000],
      ['Shipping (Express)', 990],
      ['incl. VAT 19%', 1595],
      ['Total', 9988],
    ]);
    // Inclusive tax is inside the prices: the other rows add up to the total.
    const sum = rows.filter((r) => r.kind !== 'tax' && r.kind !== 'total').reduce((a, r) => a + r.amount, 0);
    expect(sum).toBe(inclusive.total);
  });

  it('add exclusive tax on top, call free shipping free and leave out what is not there', () => {
    const b: Breakdown = {
      ...inclusive,
      currency: 'USD',
      mode: 'tax_exclusive',
      subtotal: 5000,
      discount_total: 0,
      shipping: 0,
      shipping_tax: 0,
      taxes: [
        { rate_ppm: 72500, base: 5000, amount: 363 },
        { rate_ppm: 0, base: 1000, amount: 0 },
      ],
      tax_total: 363,
      applied: [{ promotion_id: 'auto', code: null, amount: 0 }],
      total: 5363,
    };
    const rows = summaryRows(b, { shippingName: 'Standard', hasShipping: true });
    expect(rows.map((r) => r.text ?? r.label)).toEqual(['Subtotal', 'Free', 'Tax 7.25%', 'Total']);
    expect(rows.find((r) => r.kind === 'shipping')?.label).toBe('Shipping (Standard)');
    expect(rows.filter((r) => r.kind !== 'total').reduce((a, r) => a + r.amount, 0)).toBe(b.total);
    // No method and no shipping cost: no shipping row at all (a shop that ships nothing).
    expect(summaryRows(b).some((r) => r.kind === 'shipping')).toBe(false);
  });
});
