-- The append-only event log. position is assigned by the appender under a
-- transaction-scoped advisory lock, so it is gap-free and in commit order.
-- payload is stored as json (not jsonb) so the stored text is exactly the
-- canonical JSON that was hashed.
CREATE TABLE events (
    position        bigint      PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream          text        NOT NULL,
    stream_version  bigint      NOT NULL,
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    payload         json        NOT NULL,
    actor           text        NOT NULL,
    reason          text        NOT NULL,
    correlation_id  text        NOT NULL,
    causation_id    text        NOT NULL,
    cluster         text        NOT NULL,
    recorded_at     timestamptz NOT NULL,
    prev_hash       bytea       NOT NULL,
    hash            bytea       NOT NULL,
    UNIQUE (stream, stream_version)
);

CREATE INDEX events_cluster_idx ON events (cluster, position) WHERE cluster <> '';
CREATE INDEX events_correlation_idx ON events (correlation_id, position) WHERE correlation_id <> '';
-- No index on event_type (a type filter alone scans) nor on recorded_at:
-- recorded_at never decreases with position, so time bounds are turned into
-- positions by a binary search on the primary key. Every index costs append
-- throughput (see dayops bench eventstore).

-- Signed heads of the hash chain.
CREATE TABLE checkpoints (
    position   bigint      PRIMARY KEY,
    hash       bytea       NOT NULL,
    signed_at  timestamptz NOT NULL,
    key_id     text        NOT NULL,
    signature  bytea       NOT NULL
);

-- Catch-up subscription checkpoints: the last position a subscriber handled.
CREATE TABLE subscriptions (
    name        text        PRIMARY KEY,
    position    bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
