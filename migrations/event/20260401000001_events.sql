-- Event: a copy of every accepted tracking event (user_events) and the enrichment of each
-- (event_metadata). No raw IP address is ever stored: only a truncated network prefix.

CREATE TABLE user_events (
    id            uuid        PRIMARY KEY,          -- the CloudEvents id (UUIDv7)
    event_type    text        NOT NULL,             -- CloudEvents type, e.g. product.viewed
    user_id       uuid,                             -- from the access token; null when anonymous
    anonymous_id  text,
    session_id    text,
    product_id    uuid,
    occurred_at   timestamptz NOT NULL,             -- client time (or received_at)
    received_at   timestamptz NOT NULL,             -- server time
    data          jsonb       NOT NULL,             -- the published payload
    CHECK (user_id IS NOT NULL OR anonymous_id IS NOT NULL)
);
CREATE INDEX user_events_user ON user_events (user_id, received_at) WHERE user_id IS NOT NULL;
CREATE INDEX user_events_product ON user_events (product_id, received_at) WHERE product_id IS NOT NULL;
CREATE INDEX user_events_received ON user_events (received_at);

CREATE TABLE event_metadata (
    event_id      uuid PRIMARY KEY REFERENCES user_events (id) ON DELETE CASCADE,
    user_agent    text,                             -- truncated to 512 characters
    device        text NOT NULL,                    -- desktop | mobile | tablet | bot | unknown
    browser       text NOT NULL,                    -- family only
    os            text NOT NULL,                    -- family only
    ip_prefix     text,                             -- IPv4 /24 or IPv6 /48, never the address
    request_id    text
);
