-- The log is append-only, enforced twice:
--   1. privileges: the writer's role gets only INSERT and SELECT (GrantWriter),
--      the signer's only INSERT and SELECT on checkpoints (GrantSigner);
--   2. this trigger, which refuses UPDATE, DELETE and TRUNCATE on events and
--      checkpoints for everybody, the owner and superusers included.
--
-- Escape hatch (documented in docs/security.md, "audit chain"): a member of
-- the table owner's role may, inside one transaction,
--     SET LOCAL dayops.audit_rewrite = 'allow';
-- and then UPDATE or DELETE (a migration that must rewrite rows, or a test
-- that tampers on purpose). The setting alone does nothing for a role that
-- is not a member of the owner's role, and SET LOCAL ends with the
-- transaction. Whatever is changed this way is still caught by `verify`.
-- TRUNCATE is refused even then: there is no legitimate reason for it.

-- Checkpoints form a chain of their own: seq is 1, 2, 3, ... in signing
-- order and is part of the signed message (format 2), so a deleted
-- checkpoint leaves a gap that verify reports. A position may be signed more
-- than once (a periodic re-signing of an idle head keeps "the newest
-- checkpoint is recent" true), so seq becomes the key.
ALTER TABLE checkpoints ADD COLUMN seq bigint;
ALTER TABLE checkpoints ADD COLUMN format smallint NOT NULL DEFAULT 1;
UPDATE checkpoints AS c SET seq = n.rn
    FROM (SELECT position, row_number() OVER (ORDER BY position) AS rn FROM checkpoints) AS n
    WHERE c.position = n.position;
ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_pkey;
ALTER TABLE checkpoints ALTER COLUMN seq SET NOT NULL;
ALTER TABLE checkpoints ADD PRIMARY KEY (seq);
CREATE INDEX checkpoints_position_idx ON checkpoints (position);

CREATE FUNCTION dayops_refuse_rewrite() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    owner name;
BEGIN
    IF TG_OP <> 'TRUNCATE' AND current_setting('dayops.audit_rewrite', true) = 'allow' THEN
        SELECT r.rolname INTO owner FROM pg_class AS c JOIN pg_roles AS r ON r.oid = c.relowner
            WHERE c.oid = TG_RELID;
        IF pg_has_role(current_user, owner, 'MEMBER') THEN
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'dayops: % on %.% refused: the audit log is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'only the table owner can rewrite it, with SET LOCAL dayops.audit_rewrite = ''allow'' (see docs/security.md)';
END;
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION dayops_refuse_rewrite();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION dayops_refuse_rewrite();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON checkpoints
    FOR EACH ROW EXECUTE FUNCTION dayops_refuse_rewrite();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION dayops_refuse_rewrite();
