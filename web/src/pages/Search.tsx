// Search and category listing: results of `GET /api/v1/products` page by page through the
// cursor (infinite scroll, plus a button for keyboards), facets for brand, price range, variant
// attributes and stock, and a sort. The filters live in the URL.

import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { useSearchParams } from 'react-router';
import { api, unwrap } from '../api/client';
import { ProductGrid, Spinner } from '../components/ui';
import { formatMoney, toMajor, toMinor } from '../lib/money';
import {
  SORTS,
  activeFilterCount,
  apiQuery,
  parseFilters,
  toParams,
  toggleAttr,
  toggleBrand,
  type Filters,
} from '../lib/search';
import { track } from '../lib/track';
import { fromProduct } from './convert';

export default function Search() {
  const [params, setParams] = useSearchParams();
  const filters = parseFilters(params);
  const title = params.get('title');
  const apply = (f: Filters) => {
    const next = toParams(f);
    if (title) next.set('title', title);
    setParams(next);
  };

  const results = useInfiniteQuery({
    queryKey: ['search', toParams(filters).toString()],
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET('/api/v1/products', {
          // `attr.<name>` filters are open-ended, which the generated type cannot list.
          params: { query: apiQuery(filters, pageParam) as never },
        }),
      ),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? null,
  });

  const categories = useQuery({
    queryKey: ['categories'],
    queryFn: () => unwrap(api.GET('/api/v1/categories', { params: { query: { limit: 200 } } })),
    staleTime: 300_000,
  });
  const categoryName = (id: string) => categories.data?.items.find((c) => c.id === id)?.name ?? id;

  const first = results.data?.pages[0];
  const total = first?.total ?? 0;
  const facets = first?.facets;
  const items = results.data?.pages.flatMap((p) => p.items) ?? [];

  // One search event per distinct query and result.
  const trackedRef = useRef('');
  useEffect(() => {
    if (!filters.q || !first) return;
    const key = `${filters.q}|${first.total}`;
    if (trackedRef.current === key) return;
    trackedRef.current = key;
    track({ type: 'search_performed', query: filters.q, results_count: first.total });
  }, [filters.q, first]);

  // Infinite scroll: load the next page when the sentinel comes into view.
  const sentinel = useRef<HTMLDivElement>(null);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = results;
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !hasNextPage || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && !isFetchingNextPage) void fetchNextPage();
    });
    io.observe(el);
    return () => io.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const [filtersOpen, setFiltersOpen] = useState(false);
  const heading = filters.q
    ? `Results for “${filters.q}”`
    : title || (filters.category ? categoryName(filters.category) : 'All products');

  return (
    <div className="page search">
      <h1>{heading}</h1>
      <button
        type="button"
        className="filters-toggle"
        aria-expanded={filtersOpen}
        aria-controls="facets"
        onClick={() => setFiltersOpen((o) => !o)}
      >
        {filtersOpen ? 'Hide filters' : 'Show filters'}
        {activeFilterCount(filters) > 0 ? ` (${activeFilterCount(filters)})` : ''}
      </button>
      <div className="search-layout">
        <aside id="facets" className={`facets${filtersOpen ? ' open' : ''}`} aria-label="Filters">
          <h2>Filters {activeFilterCount(filters) > 0 ? `(${activeFilterCount(filters)})` : ''}</h2>
          {activeFilterCount(filters) > 0 ? (
            <button type="button" className="link" onClick={() => apply({ ...parseFilters(new URLSearchParams()), q: filters.q, sort: filters.sort })}>
              Clear filters
            </button>
          ) : null}

          <fieldset>
            <legend>Availability</legend>
            <label className="check">
              <input
                type="checkbox"
                checked={filters.inStock}
                onChange={(e) => apply({ ...filters, inStock: e.target.checked })}
              />
              In stock only
            </label>
          </fieldset>

          {facets && facets.brands.length > 0 ? (
            <fieldset>
              <legend>Brand</legend>
              {facets.brands.map((b) => (
                <label className="check" key={b.value}>
                  <input
                    type="checkbox"
                    name="brand"
                    value={b.value}
                    checked={filters.brands.includes(b.value)}
                    onChange={() => apply(toggleBrand(filters, b.value))}
                  />
                  {b.value} <span className="muted">({b.count})</span>
                </label>
              ))}
            </fieldset>
          ) : null}

          <PriceFilter filters={filters} apply={apply} range={facets?.price_range ?? null} />

          {facets?.attributes.map((a) => (
            <fieldset key={a.name}>
              <legend>{a.name.charAt(0).toUpperCase() + a.name.slice(1)}</legend>
              {a.values.map((v) => (
                <label className="check" key={v.value}>
                  <input
                    type="checkbox"
                    checked={(filters.attrs[a.name] ?? []).includes(v.value)}
                    onChange={() => apply(toggleAttr(filters, a.name, v.value))}
                  />
                  {v.value} <span className="muted">({v.count})</span>
                </label>
              ))}
            </fieldset>
          ))}

          {facets && facets.categories.length > 0 && !filters.category ? (
            <fieldset>
              <legend>Category</legend>
              <ul className="plain">
                {facets.categories.slice(0, 12).map((c) => (
                  <li key={c.value}>
                    <button type="button" className="link" onClick={() => apply({ ...filters, category: c.value })}>
                      {categoryName(c.value)} <span className="muted">({c.count})</span>
                    </button>
                  </li>
                ))}
              </ul>
            </fieldset>
          ) : null}
        </aside>

        <section className="results" aria-labelledby="results-h">
          <div className="results-bar">
            <h2 id="results-h" className="results-count" aria-live="polite" data-testid="results-count">
              {results.isPending ? 'Searching…' : `${total} ${total === 1 ? 'product' : 'products'}`}
            </h2>
            <label>
              Sort{' '}
              <select value={filters.sort} onChange={(e) => apply({ ...filters, sort: e.target.value })}>
                {SORTS.map((s) => (
                  <option key={s.value} value={s.value}>
                    {s.label}
                  </option>
                ))}
              </select>
            </label>
          </div>
          {results.isPending ? (
            <Spinner label="Searching" />
          ) : results.isError ? (
            <p role="alert">{results.error.message}</p>
          ) : items.length === 0 ? (
            <p>No products match. Try fewer filters or another spelling.</p>
          ) : (
            <ProductGrid items={items.map(fromProduct)} list={filters.q ? 'search' : 'category'} label="Results" />
          )}
          <div ref={sentinel} />
          {hasNextPage ? (
            <button type="button" onClick={() => void fetchNextPage()} disabled={isFetchingNextPage}>
              {isFetchingNextPage ? 'Loading…' : 'Load more'}
            </button>
          ) : null}
        </section>
      </div>
    </div>
  );
}

function PriceFilter({
  filters,
  apply,
  range,
}: {
  filters: Filters;
  apply: (f: Filters) => void;
  range: { min?: { amount: number; currency: string } | null; max?: { amount: number; currency: string } | null } | null;
}) {
  const currency = range?.min?.currency ?? 'EUR';
  const show = (v: number | null) => (v === null ? '' : String(toMajor(v, currency)));
  const [min, setMin] = useState(show(filters.minPrice));
  const [max, setMax] = useState(show(filters.maxPrice));
  useEffect(() => {
    setMin(show(filters.minPrice));
    setMax(show(filters.maxPrice));
  }, [filters.minPrice, filters.maxPrice]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parse = (s: string) => (s.trim() === '' || Number.isNaN(Number(s)) ? null : toMinor(Number(s), currency));
    apply({ ...filters, minPrice: parse(min), maxPrice: parse(max) });
  };
  return (
    <form className="price-filter" onSubmit={submit} aria-label="Price range">
      <fieldset>
        <legend>Price ({currency})</legend>
        {range?.min && range.max ? (
          <p className="muted small">
            {formatMoney(range.min)} – {formatMoney(range.max)}
          </p>
        ) : null}
        <div className="row">
          <label>
            Min <input type="number" min="0" step="any" inputMode="decimal" value={min} onChange={(e) => setMin(e.target.value)} />
          </label>
          <label>
            Max <input type="number" min="0" step="any" inputMode="decimal" value={max} onChange={(e) => setMax(e.target.value)} />
          </label>
        </div>
        <button type="submit">Apply</button>
      </fieldset>
    </form>
  );
}
