// Home: trending products, personalized picks for a signed-in shopper, and the categories.

import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, unwrap } from '../api/client';
import { ProductGrid, Spinner } from '../components/ui';
import { useSession } from '../lib/session';
import { fromRecommended } from './convert';

function useRecommendations(kind: 'trending' | 'personalized' | 'popular', enabled = true) {
  return useQuery({
    queryKey: ['recommendations', kind],
    queryFn: () => unwrap(api.GET('/api/v1/recommendations', { params: { query: { kind, limit: 12 } } })),
    enabled,
    staleTime: 60_000,
  });
}

export default function Home() {
  const session = useSession();
  const trending = useRecommendations('trending');
  const personal = useRecommendations('personalized', !!session);
  const categories = useQuery({
    queryKey: ['categories'],
    queryFn: () => unwrap(api.GET('/api/v1/categories', { params: { query: { limit: 200 } } })),
    staleTime: 300_000,
  });
  const roots = (categories.data?.items ?? []).filter((c) => c.depth === 0);

  return (
    <div className="page home">
      <section className="hero">
        <h1>Find something you will keep</h1>
        <p>Fresh picks, honest prices, and a checkout that never charges you twice.</p>
      </section>

      {roots.length > 0 ? (
        <section aria-labelledby="categories-h">
          <h2 id="categories-h">Categories</h2>
          <ul className="chips">
            {roots.map((c) => (
              <li key={c.id}>
                <Link to={`/search?category=${encodeURIComponent(c.id)}&title=${encodeURIComponent(c.name)}`}>
                  {c.name}
                </Link>
              </li>
            ))}
          </ul>
        </section>
      ) : null}

      {session ? (
        <section aria-labelledby="personal-h">
          <h2 id="personal-h">Picked for you</h2>
          {personal.isPending ? (
            <Spinner />
          ) : (
            <ProductGrid items={(personal.data?.items ?? []).map(fromRecommended)} list="personalized" label="Picked for you" />
          )}
        </section>
      ) : null}

      <section aria-labelledby="trending-h">
        <h2 id="trending-h">Trending now</h2>
        {trending.isPending ? (
          <Spinner />
        ) : trending.isError ? (
          <p role="alert">Recommendations are unavailable right now.</p>
        ) : (trending.data?.items.length ?? 0) === 0 ? (
          <p className="muted">
            Nothing is trending yet. <Link to="/search">Browse everything</Link>.
          </p>
        ) : (
          <ProductGrid items={trending.data!.items.map(fromRecommended)} list="trending" label="Trending now" />
        )}
      </section>
    </div>
  );
}
