-- Accounts. The e-mail is stored trimmed and lowercased (the service normalises it), and the
-- unique constraint is on that normalised value.
CREATE TABLE users (
    id                  uuid PRIMARY KEY,                      -- UUIDv7, the JWT `sub`
    email               text        NOT NULL,
    password_hash       text        NOT NULL,                  -- argon2id PHC string
    roles               text[]      NOT NULL DEFAULT ARRAY['customer']::text[],
    display_name        text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_normalised CHECK (email = lower(btrim(email))),
    CONSTRAINT users_roles_known CHECK (roles <@ ARRAY['customer', 'admin']::text[])
);
CREATE INDEX users_admins ON users (id) WHERE 'admin' = ANY (roles);

-- Refresh tokens: only the SHA-256 of the opaque value is stored. Every refresh spends one
-- token (used_at) and issues the next in the same family; presenting a spent token revokes the
-- whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid        NOT NULL,
    token_hash  bytea       NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    client_ip   inet,
    user_agent  text,
    CONSTRAINT refresh_tokens_token_hash_key UNIQUE (token_hash),
    CONSTRAINT refresh_tokens_hash_len CHECK (octet_length(token_hash) = 32)
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_live ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
