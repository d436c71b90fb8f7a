import { Link, isRouteErrorResponse, useRouteError } from 'react-router';

export function RouteError() {
  const err = useRouteError();
  const text = isRouteErrorResponse(err)
    ? `${err.status} ${err.statusText}`
    : err instanceof Error
      ? err.message
      : 'Something went wrong.';
  return (
    <main id="main" className="page">
      <h1>Something went wrong</h1>
      <p role="alert">{text}</p>
      <p>
        <Link to="/">Back to the shop</Link>
      </p>
    </main>
  );
}
