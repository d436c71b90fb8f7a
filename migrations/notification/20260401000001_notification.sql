-- Who to write to: learned from `user.registered` (order and payment events carry only the user id).
CREATE TABLE recipients (
    user_id       uuid        PRIMARY KEY,
    email         text        NOT NULL,
    display_name  text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per event that calls for an e-mail, keyed by the event id, so one event never yields
-- two e-mails. A row is claimed (`sending`, committed) before the SMTP session; `sent` after the
-- server accepted it. A row found still `sending` after a crash is marked `unknown` and not sent
-- again (a duplicate e-mail is worse than a missing one for these messages).
CREATE TABLE notifications (
    event_id         uuid        PRIMARY KEY,
    event_type       text        NOT NULL,
    kind             text        NOT NULL,
    user_id          uuid        NOT NULL,
    order_id         uuid,
    payload          jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    claimed_at       timestamptz,
    recipient        text,
    subject          text,
    message_id       text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_sending ON notifications (claimed_at) WHERE status = 'sending';
CREATE INDEX notifications_user_pending ON notifications (user_id) WHERE status = 'pending';
