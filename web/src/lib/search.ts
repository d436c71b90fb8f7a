// The search page's state lives in the URL (shareable, back button works): this maps the URL's
// query to filters, filters to the API's query of `GET /api/v1/products`, and applies toggles.

export interface Filters {
  q: string;
  category: string;
  brands: string[];
  /** Minor units. */
  minPrice: number | null;
  maxPrice: number | null;
  /** Variant attribute name -> accepted values. */
  attrs: Record<string, string[]>;
  inStock: boolean;
  sort: string;
}

export const SORTS = [
  { value: '', label: 'Best match' },
  { value: 'newest', label: 'Newest' },
  { value: 'price_asc', label: 'Price: low to high' },
  { value: 'price_desc', label: 'Price: high to low' },
] as const;

function list(v: string | null): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function num(v: string | null): number | null {
  if (v === null || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.round(n) : null;
}

export function parseFilters(params: URLSearchParams): Filters {
  const attrs: Record<string, string[]> = {};
  for (const [k, v] of params) {
    if (k.startsWith('attr.') && k.length > 5) {
      const values = list(v);
      if (values.length) attrs[k.slice(5)] = values;
    }
  }
  return {
    q: params.get('q')?.trim() ?? '',
    category: params.get('category') ?? '',
    brands: list(params.get('brand')),
    minPrice: num(params.get('min_price')),
    maxPrice: num(params.get('max_price')),
    attrs,
    inStock: params.get('in_stock') === 'true',
    sort: params.get('sort') ?? '',
  };
}

/** The URL query of `f` (also the API's query: the names are the same). */
export function toParams(f: Filters): URLSearchParams {
  const p = new URLSearchParams();
  if (f.q) p.set('q', f.q);
  if (f.category) p.set('category', f.category);
  if (f.brands.length) p.set('brand', f.brands.join(','));
  if (f.minPrice !== null) p.set('min_price', String(f.minPrice));
  if (f.maxPrice !== null) p.set('max_price', String(f.maxPrice));
  for (const name of Object.keys(f.attrs).sort()) {
    if (f.attrs[name].length) p.set(`attr.${name}`, f.attrs[name].join(','));
  }
  if (f.inStock) p.set('in_stock', 'true');
  if (f.sort) p.set('sort', f.sort);
  return p;
}

/** The query object for the API client, with a page cursor. */
export function apiQuery(f: Filters, cursor?: string | null, limit = 24): Record<string, string> {
  const q: Record<string, string> = Object.fromEntries(toParams(f));
  if (cursor) q.cursor = cursor;
  q.limit = String(limit);
  return q;
}

function toggle(values: string[], v: string): string[] {
  return values.includes(v) ? values.filter((x) => x !== v) : [...values, v];
}

export function toggleBrand(f: Filters, brand: string): Filters {
  return { ...f, brands: toggle(f.brands, brand) };
}

export function toggleAttr(f: Filters, name: string, value: string): Filters {
  const next = toggle(f.attrs[name] ?? [], value);
  const attrs = { ...f.attrs };
  if (next.length) attrs[name] = next;
  else delete attrs[name];
  return { ...f, attrs };
}

/** How many filters (not the text or the sort) are active. */
export function activeFilterCount(f: Filters): number {
  return (
    f.brands.length +
    Object.values(f.attrs).reduce((n, v) => n + v.length, 0) +
    (f.minPrice !== null ? 1 : 0) +
    (f.maxPrice !== null ? 1 : 0) +
    (f.inStock ? 1 : 0) +
    (f.category ? 1 : 0)
  );
}
