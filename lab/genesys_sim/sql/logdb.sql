-- Log Database schema (simulated Genesys install). Idempotent.
--
-- db_site is the site whose database first stored the row (from the database-level
-- setting genesys.db_site, set by install-db). Replicated rows keep it, so each
-- site's publication can filter on its own db_site and bidirectional logical
-- replication stays loop-free; (db_site, id) never collides across sites.

CREATE TABLE IF NOT EXISTS log_event (
    db_site text NOT NULL DEFAULT current_setting('genesys.db_site'),
    id bigserial,
    origin_site text NOT NULL,
    app text NOT NULL,
    level text NOT NULL,
    message text NOT NULL,
    ts timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (db_site, id)
);
