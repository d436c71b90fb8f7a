-- Transactional outbox: events written in the same transaction as the state change, published
-- by the relay in `seq` order and marked.
CREATE TABLE IF NOT EXISTS outbox (
    id            uuid PRIMARY KEY,                 -- CloudEvents id (UUIDv7)
    seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    topic         text        NOT NULL,
    event_key     text        NOT NULL,             -- Kafka key: the aggregate id
    event_type    text        NOT NULL,
    source        text        NOT NULL,
    subject       text,
    data          jsonb       NOT NULL,
    traceparent   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE published_at IS NULL;

-- Consumer inbox: an event id is recorded in the same transaction as its effect, so a
-- redelivered event is recognised and skipped.
CREATE TABLE IF NOT EXISTS processed_events (
    consumer      text        NOT NULL,
    event_id      uuid        NOT NULL,
    event_type    text        NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
