-- ringbreaker workspace schema (DuckDB). One file holds every stage's tables.
--
-- Versioned migrations: each block starts with a line `-- migration N: title` and is applied once,
-- in order, inside one transaction together with its row in schema_migrations. Never edit a
-- released block; append a new one. Later stages (ingest, detect, classify, attribute) add theirs.

-- migration 1: findings (scan)
-- One row per leaked credential per location. Identity is (fingerprint, location): rescans update
-- the row instead of adding one. The credential itself is never stored: only its SHA-256 and a
-- redacted preview.
CREATE TABLE findings (
    fingerprint   VARCHAR NOT NULL,   -- SHA-256 hex of the exact credential (AWS: of the access key id)
    location      VARCHAR NOT NULL,   -- path (archive entries as a.zip!inner/file, notebooks add #cell)
    id            VARCHAR NOT NULL,   -- stable finding id: hash of rule, fingerprint and path
    rule          VARCHAR NOT NULL,   -- secret rule id, e.g. secret.openai.project-key
    provider      VARCHAR NOT NULL,   -- e.g. openai, aws, azure-openai
    preview       VARCHAR NOT NULL,   -- short prefix and length, e.g. sk-proj-AbCd…(164)
    length        INTEGER NOT NULL,
    path          VARCHAR NOT NULL,
    line          INTEGER NOT NULL,
    col           INTEGER NOT NULL,
    cell          INTEGER,            -- Jupyter notebook cell index
    confidence    VARCHAR NOT NULL,   -- low | medium | high
    leak_time     TIMESTAMPTZ,        -- commit date of the introducing commit, else file mtime
    commit_id     VARCHAR,            -- introducing commit (history scans)
    author        VARCHAR,
    author_email  VARCHAR,
    author_date   TIMESTAMPTZ,
    repo          VARCHAR,
    owned         BOOLEAN NOT NULL DEFAULT FALSE,  -- in the owner's --inventory
    paired        BOOLEAN NOT NULL DEFAULT FALSE,  -- companion part found (AWS secret next to its id)
    first_seen    TIMESTAMPTZ NOT NULL,            -- first scan that reported it
    last_seen     TIMESTAMPTZ NOT NULL,            -- latest scan that reported it
    PRIMARY KEY (fingerprint, location)
);
CREATE INDEX findings_fingerprint ON findings (fingerprint);
