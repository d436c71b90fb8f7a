import { Link } from 'react-router';

export default function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p>
        There is nothing here. <Link to="/">Back to the shop</Link>
      </p>
    </div>
  );
}
