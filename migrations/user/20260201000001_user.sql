-- user_db: the caller's own data. Every row is keyed by the user id of the access token.

CREATE TABLE user_profiles (
    user_id           uuid PRIMARY KEY,
    email             text NOT NULL DEFAULT '',
    display_name      text NOT NULL DEFAULT '',
    phone             text NOT NULL DEFAULT '',
    avatar_object_key text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE addresses (
    id                  uuid PRIMARY KEY,
    user_id             uuid NOT NULL,
    label               text NOT NULL DEFAULT '',
    recipient_name      text NOT NULL,
    organization        text NOT NULL DEFAULT '',
    address_lines       text[] NOT NULL,
    locality            text NOT NULL,
    administrative_area text NOT NULL DEFAULT '',
    postal_code         text NOT NULL DEFAULT '',
    country_code        char(2) NOT NULL,
    phone               text NOT NULL DEFAULT '',
    is_default_shipping boolean NOT NULL DEFAULT false,
    is_default_billing  boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT addresses_lines_count CHECK (cardinality(address_lines) BETWEEN 1 AND 3)
);

CREATE INDEX addresses_user_idx ON addresses (user_id, created_at DESC, id DESC);
-- At most one default of each kind per user, whatever races happen.
CREATE UNIQUE INDEX addresses_one_default_shipping ON addresses (user_id) WHERE is_default_shipping;
CREATE UNIQUE INDEX addresses_one_default_billing ON addresses (user_id) WHERE is_default_billing;

CREATE TABLE user_preferences (
    user_id          uuid PRIMARY KEY,
    locale           text NOT NULL,
    currency         char(3) NOT NULL,
    marketing_opt_in boolean NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE wishlist (
    user_id    uuid NOT NULL,
    product_id uuid NOT NULL,
    added_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (user_id, product_id)
);

CREATE INDEX wishlist_keyset_idx ON wishlist (user_id, added_at DESC, product_id DESC);

-- Avatar uploads announced by CreateAvatarUpload: what CompleteAvatarUpload checks against.
CREATE TABLE avatar_uploads (
    object_key   text PRIMARY KEY,
    user_id      uuid NOT NULL,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX avatar_uploads_user_idx ON avatar_uploads (user_id, created_at);
