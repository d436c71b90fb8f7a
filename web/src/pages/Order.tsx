// The order page: follows the order (polling) from `pending_payment` to `paid` or `cancelled`
// and says why, with the status history, lines, the stored breakdown (discounts, shipping, tax
// per rate, total: what was charged) and address.

import { useQuery } from '@tanstack/react-query';
import { Link, Navigate, useParams } from 'react-router';
import { api, unwrap, type Schemas } from '../api/client';
import { TotalsList } from '../components/Totals';
import { Price, Spinner, StatusBadge, reasonText, statusText } from '../components/ui';
import { useSession } from '../lib/session';
import { deliveryText } from '../lib/totals';

/** What the shopper should know about the order's state now. */
export function orderMessage(o: Pick<Schemas['Order'], 'status' | 'status_history'>): string {
  const last = o.status_history[o.status_history.length - 1];
  switch (o.status) {
    case 'pending_payment':
      return 'We are charging your card. This page updates by itself.';
    case 'paid':
      return 'Payment received. Thank you for your order!';
    case 'cancelled':
      return reasonText(last?.reason) ?? 'The order was cancelled.';
    case 'shipped':
      return 'Your order is on its way.';
    case 'delivered':
      return 'Your order was delivered.';
    case 'refund_requested':
      return 'A refund was requested.';
    case 'refunded':
      return 'The order was refunded to your card.';
    default:
      return statusText(o.status);
  }
}

export function StatusHistory({ history }: { history: Schemas['StatusChange'][] }) {
  return (
    <ol className="history">
      {history.map((h, i) => (
        <li key={i}>
          <StatusBadge status={h.status} /> <time dateTime={h.at}>{new Date(h.at).toLocaleString()}</time>
          {h.reason ? <span className="muted"> · {reasonText(h.reason)}</span> : null}
        </li>
      ))}
    </ol>
  );
}

export default function Order() {
  const { id = '' } = useParams();
  const session = useSession();
  const order = useQuery({
    queryKey: ['order', id],
    queryFn: () => unwrap(api.GET('/api/v1/orders/{id}', { params: { path: { id } } })),
    enabled: !!session,
    // Follow a pending order until payment settles it.
    refetchInterval: (q) => (q.state.data?.status === 'pending_payment' ? 1000 : false),
    staleTime: 0,
  });

  if (!session) return <Navigate to={`/login?next=/orders/${encodeURIComponent(id)}`} replace />;
  if (order.isPending) return <Spinner />;
  if (order.isError) {
    return (
      <div className="page">
        <h1>Order</h1>
        <p role="alert">{order.error.message}</p>
      </div>
    );
  }
  const o = order.data;
  const a = o.shipping_address;
  return (
    <div className="page order">
      <h1>Order {o.id.slice(-8)}</h1>
      <div className={`order-status ${o.status}`} role="status" aria-live="polite" data-testid="order-status" data-status={o.status}>
        <StatusBadge status={o.status} />
        <p>{orderMessage(o)}</p>
      </div>
      {o.status === 'cancelled' ? (
        <p>
          Your cart still has these items. <Link to="/cart">Try again with another card</Link>.
        </p>
      ) : null}
      <section aria-labelledby="items-h">
        <h2 id="items-h">Items</h2>
        <ul className="plain">
          {o.items.map((l) => (
            <li key={l.sku} className="summary-line">
              <span>
                {l.quantity} × {l.name} <span className="muted small">({l.sku})</span>
              </span>
              <Price money={l.line_total} />
            </li>
          ))}
        </ul>
        {o.breakdown ? (
          <TotalsList breakdown={o.breakdown} shippingName={o.shipping_method?.name} hasShipping={!!o.shipping_method} testId="order" />
        ) : (
          <p className="summary-total">
            Total <strong data-testid="order-total"><Price money={o.total} /></strong>
          </p>
        )}
      </section>
      <section aria-labelledby="ship-h">
        <h2 id="ship-h">Shipping to</h2>
        <address>
          {a.recipient_name}
          {a.organization ? <>, {a.organization}</> : null}
          <br />
          {a.address_lines.join(', ')}
          <br />
          {a.postal_code} {a.locality}
          {a.administrative_area ? `, ${a.administrative_area}` : ''}, {a.country_code}
        </address>
        {o.shipping_method ? (
          <p>
            {o.shipping_method.name}
            {o.shipping_method.delivery_days ? <span className="muted">, {deliveryText(o.shipping_method.delivery_days)}</span> : null}
          </p>
        ) : null}
        {o.shipment ? (
          <p>
            {o.shipment.carrier} tracking number <code>{o.shipment.tracking_number}</code>
          </p>
        ) : null}
      </section>
      <section aria-labelledby="history-h">
        <h2 id="history-h">Status history</h2>
        <StatusHistory history={o.status_history} />
      </section>
      <p>
        <Link to="/account">All your orders</Link>
      </p>
    </div>
  );
}
