// Small building blocks: form fields whose API errors sit next to them, prices, product images
// with their size and lazy loading, status badges, and product cards that report clicks.

import { useId, type InputHTMLAttributes, type ReactNode } from 'react';
import { Link } from 'react-router';
import { formatMoney, type Money } from '../lib/money';
import { track } from '../lib/track';

export function Field({
  label,
  error,
  hint,
  ...input
}: { label: string; error?: string; hint?: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const errId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [error ? errId : null, hint ? hintId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...input} />
      {hint ? (
        <small id={hintId} className="hint">
          {hint}
        </small>
      ) : null}
      {error ? (
        <small id={errId} className="field-error" role="alert">
          {error}
        </small>
      ) : null}
    </div>
  );
}

export function FormError({ message }: { message?: string }) {
  if (!message) return null;
  return (
    <p className="form-error" role="alert">
      {message}
    </p>
  );
}

export function Price({ money, compareAt }: { money?: Money | null; compareAt?: Money | null }) {
  if (!money) return <span className="price muted">Price unavailable</span>;
  return (
    <span className="price">
      {formatMoney(money)}
      {compareAt && compareAt.amount > money.amount ? (
        <s className="was" aria-label={`was ${formatMoney(compareAt)}`}>
          {formatMoney(compareAt)}
        </s>
      ) : null}
    </span>
  );
}

export function ProductImage({
  src,
  alt,
  size,
  eager,
}: {
  src?: string | null;
  alt: string;
  size: number;
  eager?: boolean;
}) {
  if (!src) {
    return (
      <div className="img-placeholder" style={{ aspectRatio: '1 / 1' }} role="img" aria-label={alt}>
        <span aria-hidden="true">{alt.slice(0, 1).toUpperCase()}</span>
      </div>
    );
  }
  return (
    <img
      src={src}
      alt={alt}
      width={size}
      height={size}
      loading={eager ? 'eager' : 'lazy'}
      decoding="async"
      sizes={`(max-width: 600px) 50vw, ${size}px`}
    />
  );
}

export interface CardProduct {
  id: string;
  slug: string;
  name: string;
  brand: string;
  image?: string | null;
  price?: Money | null;
  inStock?: boolean;
}

export function ProductCard({ p, list, position }: { p: CardProduct; list: string; position: number }) {
  return (
    <li className="card">
      <Link
        to={`/product/${encodeURIComponent(p.slug)}`}
        onClick={() => track({ type: 'product_clicked', product_id: p.id, list, position })}
        data-testid="product-card"
      >
        <ProductImage src={p.image} alt={p.name} size={240} />
        <span className="card-brand">{p.brand}</span>
        <span className="card-name">{p.name}</span>
        <Price money={p.price} />
        {p.inStock === false ? <span className="badge warn">Out of stock</span> : null}
      </Link>
    </li>
  );
}

export function ProductGrid({
  items,
  list,
  label,
}: {
  items: CardProduct[];
  list: string;
  label: string;
}) {
  return (
    <ul className="grid" aria-label={label}>
      {items.map((p, i) => (
        <ProductCard key={p.id} p={p} list={list} position={i + 1} />
      ))}
    </ul>
  );
}

const STATUS_TEXT: Record<string, string> = {
  pending_payment: 'Awaiting payment',
  paid: 'Paid',
  shipped: 'Shipped',
  delivered: 'Delivered',
  cancelled: 'Cancelled',
  refund_requested: 'Refund requested',
  refunded: 'Refunded',
};

export function statusText(s: string): string {
  return STATUS_TEXT[s] ?? s;
}

export function StatusBadge({ status }: { status: string }) {
  const tone = status === 'cancelled' ? 'bad' : status === 'pending_payment' ? 'wait' : 'good';
  return (
    <span className={`badge ${tone}`} data-status={status}>
      {statusText(status)}
    </span>
  );
}

const REASON_TEXT: Record<string, string> = {
  checkout_completed: 'Order placed',
  payment_completed: 'Payment received',
  payment_failed: 'The payment was declined, so the order was cancelled. Your card was not charged.',
  reservation_expired: 'The payment did not arrive in time, so the reserved items were released.',
  customer_cancelled: 'You cancelled the order.',
  shipped: 'Handed to the carrier',
  delivered: 'Delivered',
  refund_requested: 'Refund requested',
  payment_refunded: 'Refunded to your card',
};

export function reasonText(reason?: string | null): string | undefined {
  if (!reason) return undefined;
  return REASON_TEXT[reason] ?? reason.replace(/_/g, ' ');
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <p className="spinner" role="status" aria-live="polite">
      {label}…
    </p>
  );
}
