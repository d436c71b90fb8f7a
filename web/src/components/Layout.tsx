// The frame of every page: skip link, header (logo, search, cart count, account), the page,
// and a footer. Route changes move focus to the page's heading for screen reader users.

import { Suspense, useEffect, useRef } from 'react';
import { Link, NavLink, Outlet, ScrollRestoration, useLocation, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { useCart } from '../cart';
import { useSession } from '../lib/session';
import { logout } from '../auth';
import { SearchBox } from './SearchBox';
import { Spinner } from './ui';

export function Layout() {
  const session = useSession();
  const cart = useCart();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const mainRef = useRef<HTMLElement>(null);
  const count = cart.data?.item_count ?? 0;

  useEffect(() => {
    const h1 = mainRef.current?.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus({ preventScroll: true });
    }
  }, [location.pathname]);

  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="site-header">
        <Link to="/" className="logo" aria-label="Storefront home">
          Storefront
        </Link>
        <SearchBox />
        <nav aria-label="Account">
          <NavLink to="/cart" className="cart-link">
            Cart <span className="count" aria-label={`${count} items`} data-testid="cart-count">{count}</span>
          </NavLink>
          {session ? (
            <>
              <NavLink to="/account">Account</NavLink>
              <button
                type="button"
                className="link"
                onClick={async () => {
                  await logout(qc);
                  navigate('/');
                }}
              >
                Log out
              </button>
            </>
          ) : (
            <>
              <NavLink to={`/login?next=${encodeURIComponent(location.pathname + location.search)}`}>Log in</NavLink>
              <NavLink to="/register">Sign up</NavLink>
            </>
          )}
        </nav>
      </header>
      <main id="main" ref={mainRef}>
        <Suspense fallback={<Spinner />}>
          <Outlet />
        </Suspense>
      </main>
      <footer className="site-footer">
        <p>
          Storefront demo shop · built on the public REST API · <a href="/docs">API reference</a>
        </p>
      </footer>
      <ScrollRestoration />
    </>
  );
}
