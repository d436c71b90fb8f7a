// The priced order as a list of label and amount (subtotal, discounts, shipping, tax per rate,
// total), for the cart's estimate, the checkout summary and the order page alike.

import { formatMoney } from '../lib/money';
import { summaryRows, type Breakdown } from '../lib/totals';

/** A discount reads "−€10.00" (a minus sign, as the code's status next to its field says). */
function signed(amount: number, currency: string): string {
  return amount < 0 ? `−${formatMoney({ amount: -amount, currency })}` : formatMoney({ amount, currency });
}

export function TotalsList({
  breakdown,
  shippingName,
  hasShipping,
  testId,
}: {
  breakdown: Breakdown;
  shippingName?: string | null;
  hasShipping?: boolean;
  /** Prefix of the rows' test ids (`<testId>-total`, ...). */
  testId?: string;
}) {
  const rows = summaryRows(breakdown, { shippingName, hasShipping });
  return (
    <dl className="totals" data-testid={testId}>
      {rows.map((r, i) => (
        <div key={i} className={r.kind === 'total' ? 'summary-total' : 'summary-line'} data-kind={r.kind}>
          <dt>{r.label}</dt>
          <dd data-testid={testId && (r.kind === 'total' || r.kind === 'subtotal') ? `${testId}-${r.kind}` : undefined}>
            {r.kind === 'total' ? (
              <strong className="price">{formatMoney({ amount: r.amount, currency: breakdown.currency })}</strong>
            ) : (
              <span className="price">{r.text ?? signed(r.amount, breakdown.currency)}</span>
            )}
          </dd>
        </div>
      ))}
    </dl>
  );
}
