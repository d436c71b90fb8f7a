// Checkout totals as the shop shows them: the cart's estimate query, tax rates in parts per
// million as percentages, delivery estimates, and the rows of an order summary built from the
// API's breakdown (integer minor units; nothing is recomputed here, only laid out).

import type { Schemas } from '../api/client';

export type Breakdown = Schemas['Breakdown'];
export type Estimate = Schemas['Estimate'];

/** What the cart is estimated for (`GET /api/v1/cart?...`). */
export interface EstimateParams {
  currency?: string | null;
  country?: string | null;
  region?: string | null;
  shippingMethodId?: string | null;
  promotionCode?: string | null;
}

export type EstimateQuery = Partial<Record<'currency' | 'country' | 'region' | 'shipping_method_id' | 'promotion_code', string>>;

/** The query of an estimate: trimmed, codes uppercased, empty values left out (the API refuses
 *  an empty `country` or `currency`). */
export function estimateQuery(p: EstimateParams): EstimateQuery {
  const q: EstimateQuery = {};
  const put = (k: keyof EstimateQuery, v: string | null | undefined, upper = false) => {
    const t = v?.trim();
    if (t) q[k] = upper ? t.toUpperCase() : t;
  };
  put('currency', p.currency, true);
  put('country', p.country, true);
  put('region', p.region);
  put('shipping_method_id', p.shippingMethodId);
  put('promotion_code', p.promotionCode, true);
  return q;
}

/** Whether `country` looks like an ISO 3166-1 alpha-2 code (worth asking for an estimate). */
export function isCountryCode(country: string | null | undefined): boolean {
  return /^[A-Za-z]{2}$/.test(country?.trim() ?? '');
}

/** The API's rule for a promotion code: 3 to 32 letters, digits, `-` or `_`. */
export function promotionCodeProblem(code: string): string | undefined {
  const c = code.trim();
  if (!c) return 'Enter a code.';
  if (!/^[A-Za-z0-9_-]{3,32}$/.test(c)) return 'A code has 3 to 32 letters, digits, - or _.';
  return undefined;
}

/** A rate in parts per million as a percentage: 190000 → "19%", 72500 → "7.25%", 88750 → "8.875%". */
export function formatRatePpm(ppm: number): string {
  const whole = Math.floor(ppm / 10_000);
  const frac = String(ppm % 10_000).padStart(4, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}%` : `${whole}%`;
}

/** "incl. VAT 19%" when prices include tax, "Tax 7.25%" when it is added on top. */
export function taxLabel(mode: Breakdown['mode'], ppm: number): string {
  return mode === 'tax_inclusive' ? `incl. VAT ${formatRatePpm(ppm)}` : `Tax ${formatRatePpm(ppm)}`;
}

/** "1–2 business days", "3 business days", or undefined without an estimate. */
export function deliveryText(d: Schemas['DeliveryDays'] | null | undefined): string | undefined {
  if (!d) return undefined;
  const days = (n: number) => (n === 1 ? 'business day' : 'business days');
  return d.min === d.max ? `${d.min} ${days(d.min)}` : `${d.min}–${d.max} ${days(d.max)}`;
}

export type SummaryRowKind = 'subtotal' | 'discount' | 'shipping' | 'tax' | 'total';

/** One line of an order summary; `amount` in minor units of the breakdown's currency. */
export interface SummaryRow {
  kind: SummaryRowKind;
  label: string;
  amount: number;
  /** Shown as a word instead of an amount (shipping that costs nothing). */
  text?: string;
}

/**
 * The summary of a breakdown: subtotal, each promotion that gave something (with its code),
 * shipping (before its discount, which is one of the promotions), tax per rate and the total.
 * Inclusive tax is part of the prices above it; exclusive tax adds up to the total.
 */
export function summaryRows(b: Breakdown, opts: { shippingName?: string | null; hasShipping?: boolean } = {}): SummaryRow[] {
  const rows: SummaryRow[] = [{ kind: 'subtotal', label: 'Subtotal', amount: b.subtotal }];
  for (const a of b.applied) {
    if (a.amount <= 0) continue;
    rows.push({ kind: 'discount', label: a.code ? `Discount (${a.code})` : 'Discount', amount: -a.amount });
  }
  if (opts.hasShipping || opts.shippingName || b.shipping > 0) {
    rows.push({
      kind: 'shipping',
      label: opts.shippingName ? `Shipping (${opts.shippingName})` : 'Shipping',
      amount: b.shipping,
      text: b.shipping === 0 ? 'Free' : undefined,
    });
  }
  for (const t of b.taxes) {
    if (t.amount === 0 && t.rate_ppm === 0) continue;
    rows.push({ kind: 'tax', label: taxLabel(b.mode, t.rate_ppm), amount: t.amount });
  }
  rows.push({ kind: 'total', label: 'Total', amount: b.total });
  return rows;
}
