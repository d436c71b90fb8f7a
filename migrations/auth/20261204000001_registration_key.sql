-- Sign-ups retried with the same Idempotency-Key answer as the first attempt did: the key's
-- SHA-256 is kept with the account it created.
ALTER TABLE users ADD COLUMN registration_key BYTEA;
