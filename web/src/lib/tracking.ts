// Tracking for the recommendation pipeline: product views, clicks (with list and position),
// searches and cart changes go to `POST /api/v1/events` in batches. A batch leaves when it is
// full, a few seconds after its first event, or when the page is hidden (keepalive, so it
// survives the unload). The API answers with an anonymous id, which later batches carry.

import { KEYS, store } from './storage';

export type TrackingEventType =
  | 'product_viewed'
  | 'product_clicked'
  | 'search_performed'
  | 'cart_item_added'
  | 'cart_item_removed'
  | 'wishlist_added';

export interface TrackingEvent {
  type: TrackingEventType;
  product_id?: string;
  sku?: string;
  quantity?: number;
  query?: string;
  results_count?: number;
  list?: string;
  position?: number;
  occurred_at?: string;
}

export interface EventBatch {
  events: TrackingEvent[];
  anonymous_id?: string;
  session_id?: string;
}

/** Sends one batch; resolves with the API's answer, or rejects when it could not be sent. */
export type Send = (batch: EventBatch, keepalive: boolean) => Promise<{ anonymous_id?: string | null } | null>;

export interface TrackerOptions {
  /** Events per batch (the API takes at most 100). */
  maxBatch: number;
  /** How long the first event of a batch waits for company. */
  flushAfterMs: number;
  /** Events kept while the API cannot be reached; older ones are dropped. */
  maxQueued: number;
  now: () => Date;
}

const DEFAULTS: TrackerOptions = {
  maxBatch: 25,
  flushAfterMs: 3000,
  maxQueued: 500,
  now: () => new Date(),
};

export class Tracker {
  private queue: TrackingEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight = false;
  private readonly opts: TrackerOptions;
  private readonly sessionId: string;

  constructor(
    private readonly send: Send,
    opts: Partial<TrackerOptions> = {},
    sessionId: string = newSessionId(),
  ) {
    this.opts = { ...DEFAULTS, ...opts };
    this.sessionId = sessionId;
  }

  get pending(): number {
    return this.queue.length;
  }

  track(event: TrackingEvent) {
    this.queue.push({ occurred_at: this.opts.now().toISOString(), ...event });
    if (this.queue.length > this.opts.maxQueued) {
      this.queue.splice(0, this.queue.length - this.opts.maxQueued);
    }
    if (this.queue.length >= this.opts.maxBatch) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.opts.flushAfterMs);
  }

  /** Sends what is queued, a batch at a time. `keepalive` when the page is going away. */
  async flush(keepalive = false): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.inFlight && !keepalive) return;
    this.inFlight = true;
    try {
      while (this.queue.length > 0) {
        const events = this.queue.splice(0, this.opts.maxBatch);
        const anonymous = store.get(KEYS.anonymousId) ?? undefined;
        try {
          const answer = await this.send(
            { events, anonymous_id: anonymous, session_id: this.sessionId },
            keepalive,
          );
          if (answer?.anonymous_id) store.set(KEYS.anonymousId, answer.anonymous_id);
        } catch {
          // Not sent: keep the events for the next flush (bounded by maxQueued).
          this.queue.unshift(...events);
          if (!this.timer && !keepalive) {
            this.timer = setTimeout(() => void this.flush(), this.opts.flushAfterMs * 5);
          }
          return;
        }
      }
    } finally {
      this.inFlight = false;
    }
  }
}

function newSessionId(): string {
  try {
    const existing = sessionStorage.getItem('sf.session_id');
    if (existing) return existing;
    const id = `s-${crypto.randomUUID()}`;
    sessionStorage.setItem('sf.session_id', id);
    return id;
  } catch {
    return `s-${Math.random().toString(36).slice(2)}`;
  }
}
