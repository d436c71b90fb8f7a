// Entry: React Query for server state, the router with one lazily loaded chunk per page.

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { Layout } from './components/Layout';
import { ApiError } from './api/problem';
import { RouteError } from './pages/RouteError';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      // Client errors will not fix themselves; server hiccups and rate limits may.
      retry: (count, err) =>
        count < 2 && !(err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429),
    },
  },
});

const page = (load: () => Promise<{ default: React.ComponentType }>) => async () => ({
  Component: (await load()).default,
});

const router = createBrowserRouter([
  {
    element: <Layout />,
    errorElement: <RouteError />,
    children: [
      { index: true, lazy: page(() => import('./pages/Home')) },
      { path: 'search', lazy: page(() => import('./pages/Search')) },
      { path: 'product/:slug', lazy: page(() => import('./pages/Product')) },
      { path: 'cart', lazy: page(() => import('./pages/Cart')) },
      { path: 'login', lazy: page(() => import('./pages/Login')) },
      { path: 'register', lazy: page(() => import('./pages/Register')) },
      { path: 'checkout', lazy: page(() => import('./pages/Checkout')) },
      { path: 'orders/:id', lazy: page(() => import('./pages/Order')) },
      { path: 'account', lazy: page(() => import('./pages/Account')) },
      { path: '*', lazy: page(() => import('./pages/NotFound')) },
    ],
  },
]);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
