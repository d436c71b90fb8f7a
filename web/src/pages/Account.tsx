// Account: orders with their status history, the address book, the wishlist and the avatar
// (uploaded straight to storage through the presigned URL the API hands out).

import { useState, type FormEvent } from 'react';
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, Navigate } from 'react-router';
import { api, countryCode, unwrap, type Schemas } from '../api/client';
import { fieldError, formError } from '../api/problem';
import { FormError, Price, ProductGrid, Spinner, StatusBadge } from '../components/ui';
import { useSession } from '../lib/session';
import { fromProduct } from './convert';
import { StatusHistory } from './Order';

export default function Account() {
  const session = useSession();
  if (!session) return <Navigate to="/login?next=/account" replace />;
  return (
    <div className="page account">
      <h1>Your account</h1>
      <Profile />
      <Orders />
      <Addresses />
      <Wishlist />
    </div>
  );
}

function Profile() {
  const qc = useQueryClient();
  const me = useQuery({ queryKey: ['me'], queryFn: () => unwrap(api.GET('/api/v1/users/me', {})) });
  const avatar = useQuery({
    queryKey: ['avatar'],
    queryFn: async () => {
      try {
        return await unwrap(api.GET('/api/v1/users/me/avatar', {}));
      } catch {
        return null;
      }
    },
  });
  const upload = useMutation({
    mutationFn: async (file: File) => {
      const target = await unwrap(
        api.POST('/api/v1/users/me/avatar', { body: { content_type: file.type, size_bytes: file.size } }),
      );
      let put: Response;
      try {
        put = await fetch(target.upload_url, {
          method: target.method || 'PUT',
          headers: target.headers,
          body: file,
        });
      } catch {
        // The browser talks to the object store directly; the store must allow this site (CORS).
        throw new Error('The image store could not be reached from this page; try again later.');
      }
      if (!put.ok) throw new Error(`The image store refused the upload (${put.status}).`);
      return unwrap(api.POST('/api/v1/users/me/avatar/complete', { body: { object_key: target.object_key } }));
    },
    onSuccess: () => qc.invalidateQueries({ queryKey: ['avatar'] }),
  });
  return (
    <section aria-labelledby="profile-h" className="panel">
      <h2 id="profile-h">Profile</h2>
      <div className="profile">
        {avatar.data?.url ? (
          <img src={avatar.data.url} alt="Your avatar" width={72} height={72} className="avatar" />
        ) : (
          <div className="avatar img-placeholder" aria-hidden="true">
            {(me.data?.display_name || '?').slice(0, 1).toUpperCase()}
          </div>
        )}
        <div>
          <p>
            <strong>{me.data?.display_name || 'No name yet'}</strong>
          </p>
          <label className="file">
            Change avatar (JPEG, PNG or WebP)
            <input
              type="file"
              accept="image/jpeg,image/png,image/webp"
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f) upload.mutate(f);
              }}
            />
          </label>
          {upload.isPending ? <p role="status">Uploading…</p> : null}
          <FormError message={upload.isError ? formError(upload.error) : undefined} />
        </div>
      </div>
    </section>
  );
}

function Orders() {
  const orders = useQuery({
    queryKey: ['orders'],
    queryFn: () => unwrap(api.GET('/api/v1/orders', { params: { query: { limit: 50 } } })),
  });
  return (
    <section aria-labelledby="orders-h" className="panel">
      <h2 id="orders-h">Orders</h2>
      {orders.isPending ? (
        <Spinner />
      ) : orders.isError ? (
        <p role="alert">{orders.error.message}</p>
      ) : orders.data.items.length === 0 ? (
        <p>No orders yet.</p>
      ) : (
        <ul className="plain orders" data-testid="orders">
          {orders.data.items.map((o) => (
            <li key={o.id} className="order-row" data-testid="order-row" data-status={o.status}>
              <div className="summary-line">
                <Link to={`/orders/${o.id}`}>Order {o.id.slice(-8)}</Link>
                <span>{new Date(o.created_at).toLocaleDateString()}</span>
                <StatusBadge status={o.status} />
                <Price money={o.total} />
              </div>
              <details>
                <summary>Status history</summary>
                <StatusHistory history={o.status_history} />
              </details>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Addresses() {
  const qc = useQueryClient();
  const list = useQuery({ queryKey: ['addresses'], queryFn: () => unwrap(api.GET('/api/v1/users/me/addresses', {})) });
  const del = useMutation({
    mutationFn: (id: string) => unwrap(api.DELETE('/api/v1/users/me/addresses/{id}', { params: { path: { id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['addresses'] }),
  });
  const [form, setForm] = useState({ recipient_name: '', line1: '', locality: '', postal_code: '', country_code: '' });
  const add = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/api/v1/users/me/addresses', {
          body: {
            recipient_name: form.recipient_name,
            address_lines: [form.line1],
            locality: form.locality,
            postal_code: form.postal_code.trim(),
            country_code: countryCode(form.country_code),
          } as Schemas['NewAddress'],
        }),
      ),
    onSuccess: () => {
      setForm({ recipient_name: '', line1: '', locality: '', postal_code: '', country_code: '' });
      return qc.invalidateQueries({ queryKey: ['addresses'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  const err = (f: string) => fieldError(add.error, f);
  const input = (k: keyof typeof form, label: string) => (
    <div className="field">
      <label htmlFor={`addr-${k}`}>{label}</label>
      <input
        id={`addr-${k}`}
        value={form[k]}
        aria-invalid={err(k === 'line1' ? 'address_lines' : k) ? true : undefined}
        onChange={(e) => setForm({ ...form, [k]: e.target.value })}
      />
      {err(k === 'line1' ? 'address_lines' : k) ? (
        <small className="field-error" role="alert">{err(k === 'line1' ? 'address_lines' : k)}</small>
      ) : null}
    </div>
  );
  return (
    <section aria-labelledby="addresses-h" className="panel">
      <h2 id="addresses-h">Addresses</h2>
      {list.data?.items.length ? (
        <ul className="plain">
          {list.data.items.map((a) => (
            <li key={a.id} className="summary-line">
              <span>
                {a.recipient_name}, {a.address_lines.join(', ')}, {a.postal_code} {a.locality}, {a.country_code}
                {a.is_default_shipping ? <span className="badge good">Default</span> : null}
              </span>
              <button type="button" className="link" onClick={() => del.mutate(a.id)} aria-label={`Delete address of ${a.recipient_name}`}>
                Delete
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No saved addresses.</p>
      )}
      <details>
        <summary>Add an address</summary>
        <form onSubmit={submit} noValidate className="subform">
          <FormError message={add.isError ? formError(add.error, ['recipient_name', 'address_lines', 'locality', 'postal_code', 'country_code']) : undefined} />
          {input('recipient_name', 'Full name')}
          {input('line1', 'Address')}
          {input('postal_code', 'Postal code')}
          {input('locality', 'City')}
          {input('country_code', 'Country code')}
          <button type="submit" disabled={add.isPending}>Save address</button>
        </form>
      </details>
    </section>
  );
}

function Wishlist() {
  const qc = useQueryClient();
  const list = useQuery({
    queryKey: ['wishlist'],
    queryFn: () => unwrap(api.GET('/api/v1/users/me/wishlist', { params: { query: { limit: 24 } } })),
  });
  const ids = list.data?.items.map((w) => w.product_id) ?? [];
  const products = useQueries({
    queries: ids.map((id) => ({
      queryKey: ['product', id],
      queryFn: () => unwrap(api.GET('/api/v1/products/{id_or_slug}', { params: { path: { id_or_slug: id } } })),
      staleTime: 60_000,
    })),
  });
  const remove = useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE('/api/v1/users/me/wishlist/{product_id}', { params: { path: { product_id: id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ['wishlist'] }),
  });
  const loaded = products.flatMap((p) => (p.data ? [p.data] : []));
  return (
    <section aria-labelledby="wishlist-h" className="panel">
      <h2 id="wishlist-h">Wishlist</h2>
      {ids.length === 0 ? (
        <p className="muted">Nothing saved yet: use “Add to wishlist” on a product.</p>
      ) : (
        <>
          <ProductGrid items={loaded.map(fromProduct)} list="wishlist" label="Wishlist" />
          <ul className="plain">
            {loaded.map((p) => (
              <li key={p.id}>
                <button type="button" className="link" onClick={() => remove.mutate(p.id)}>
                  Remove {p.name} from the wishlist
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
