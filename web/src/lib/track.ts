// The shop's one tracker: sends batches with the session's bearer token (when signed in), and
// flushes with keepalive when the page is hidden or unloaded.

import { getSession } from './storage';
import { Tracker, type EventBatch, type TrackingEvent } from './tracking';

async function send(batch: EventBatch, keepalive: boolean) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const s = getSession();
  if (s && s.expires_at > Date.now()) headers.authorization = `Bearer ${s.access_token}`;
  const r = await fetch('/api/v1/events', {
    method: 'POST',
    headers,
    body: JSON.stringify(batch),
    keepalive,
  });
  if (r.status === 429 || r.status >= 500) throw new Error(`events: ${r.status}`);
  // Other 4xx: the batch is not valid and will not become so; drop it.
  if (!r.ok) return null;
  return (await r.json()) as { anonymous_id?: string | null };
}

export const tracker = new Tracker(send);

if (typeof document !== 'undefined') {
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') void tracker.flush(true);
  });
  window.addEventListener('pagehide', () => void tracker.flush(true));
}

export function track(e: TrackingEvent) {
  tracker.track(e);
}
