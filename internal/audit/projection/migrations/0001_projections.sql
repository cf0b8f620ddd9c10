-- Projections kept up to date by the "audit-projections" subscription; each
-- row is replaced in the same transaction that advances the subscription's
-- checkpoint, so the tables are exactly the fold of the log up to it.
CREATE TABLE audit_cluster_state (
    cluster   text   PRIMARY KEY,
    position  bigint NOT NULL,
    state     jsonb  NOT NULL
);

CREATE TABLE audit_operation_timeline (
    operation_id  text   PRIMARY KEY,
    cluster       text   NOT NULL,
    position      bigint NOT NULL,
    state         jsonb  NOT NULL
);
CREATE INDEX audit_operation_timeline_cluster_idx ON audit_operation_timeline (cluster);
