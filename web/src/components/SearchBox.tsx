// The header's search box: suggestions (product names, typos tolerated by the API's search) as
// the person types, keyboard navigable (ARIA combobox), Enter searches.

import { useEffect, useId, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { api, unwrap } from '../api/client';

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function SearchBox() {
  const [params] = useSearchParams();
  const [text, setText] = useState(params.get('q') ?? '');
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const navigate = useNavigate();
  const listId = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  const q = useDebounced(text.trim(), 200);

  const suggestions = useQuery({
    queryKey: ['suggest', q],
    queryFn: () => unwrap(api.GET('/api/v1/products', { params: { query: { q, limit: 6 } } })),
    enabled: q.length >= 2,
    staleTime: 60_000,
  });
  const items = q.length >= 2 ? (suggestions.data?.items ?? []) : [];
  const showList = open && items.length > 0;

  const go = (query: string) => {
    setOpen(false);
    setActive(-1);
    navigate(`/search?q=${encodeURIComponent(query)}`);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (active >= 0 && items[active]) {
      setOpen(false);
      navigate(`/product/${encodeURIComponent(items[active].slug)}`);
    } else if (text.trim()) {
      go(text.trim());
    }
  };
  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'ArrowDown') {
      e.preventDefault();
      setOpen(true);
      setActive((a) => Math.min(a + 1, items.length - 1));
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      setActive((a) => Math.max(a - 1, -1));
    } else if (e.key === 'Escape') {
      setOpen(false);
      setActive(-1);
    }
  };

  return (
    <form role="search" className="searchbox" onSubmit={submit}>
      <label htmlFor={`${listId}-input`} className="visually-hidden">
        Search products
      </label>
      <input
        ref={inputRef}
        id={`${listId}-input`}
        type="search"
        name="q"
        placeholder="Search products"
        autoComplete="off"
        value={text}
        role="combobox"
        aria-expanded={showList}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={active >= 0 ? `${listId}-${active}` : undefined}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
          setActive(-1);
        }}
        onKeyDown={onKey}
        onFocus={() => setOpen(true)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
      />
      <button type="submit">Search</button>
      <ul id={listId} role="listbox" className="suggestions" hidden={!showList} aria-label="Suggestions">
        {items.map((p, i) => (
          <li
            key={p.id}
            id={`${listId}-${i}`}
            role="option"
            aria-selected={i === active}
            className={i === active ? 'active' : undefined}
            onMouseDown={(e) => {
              e.preventDefault();
              setOpen(false);
              navigate(`/product/${encodeURIComponent(p.slug)}`);
            }}
          >
            <span>{p.name}</span> <small className="muted">{p.brand}</small>
          </li>
        ))}
      </ul>
    </form>
  );
}
