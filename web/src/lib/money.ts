// Money as the API gives it: integer minor units and an ISO 4217 currency. Never floats for
// arithmetic; only formatting divides.

export interface Money {
  amount: number;
  currency: string;
}

const digitsCache = new Map<string, number>();

/** Minor-unit digits of `currency` (2 for EUR, 0 for JPY, 3 for KWD). */
export function minorDigits(currency: string): number {
  let d = digitsCache.get(currency);
  if (d === undefined) {
    try {
      d = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
        .maximumFractionDigits ?? 2;
    } catch {
      d = 2;
    }
    digitsCache.set(currency, d);
  }
  return d;
}

export function formatMoney(m: Money | null | undefined, locale?: string): string {
  if (!m) return '';
  const digits = minorDigits(m.currency);
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency: m.currency }).format(
      m.amount / 10 ** digits,
    );
  } catch {
    return `${(m.amount / 10 ** digits).toFixed(digits)} ${m.currency}`;
  }
}

/** Whole major units (for a price filter input) to minor units. */
export function toMinor(major: number, currency: string): number {
  return Math.round(major * 10 ** minorDigits(currency));
}

export function toMajor(minor: number, currency: string): number {
  return minor / 10 ** minorDigits(currency);
}
