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

-- migration 2: events, quarantine, ingested_files (ingest)
-- One row per telemetry record, whatever its source format, with field names aligned to OCSF API
-- Activity (class 6003) and its ai_operation profile, so one detection rule covers every format.
CREATE TABLE events (
    id              VARCHAR NOT NULL,     -- stable: hash of format and the record's own id (eventID, requestId, ...), else of its raw bytes; unique (see below)
    time            TIMESTAMPTZ NOT NULL, -- when the call happened (UTC)
    provider        VARCHAR NOT NULL,     -- aws | azure | openai | gateway
    service         VARCHAR,              -- e.g. bedrock.amazonaws.com, sts.amazonaws.com, Microsoft.CognitiveServices, litellm
    operation       VARCHAR NOT NULL,     -- e.g. InvokeModel, ChatCompletions_Create, api_key.created, acompletion
    category        VARCHAR,              -- management | data | audit | activity
    status          VARCHAR NOT NULL,     -- success | failure | unknown
    error_code      VARCHAR,              -- e.g. ValidationException, AccessDenied, 429
    actor           VARCHAR,              -- principal: ARN, caller, user or app id
    actor_type      VARCHAR,              -- e.g. IAMUser, AssumedRole, user, api_key, service_principal
    account         VARCHAR,              -- AWS account id, Azure subscription, OpenAI organisation, gateway team
    resource        VARCHAR,              -- e.g. Azure resourceId, deployment, gateway api_base
    key_id          VARCHAR,              -- the key as the source names it: AWS accessKeyId, OpenAI key id, gateway key hash
    key_fingerprint VARCHAR,              -- SHA-256 hex of the credential string, as scan records it (AWS: of the access key id)
    src_ip          VARCHAR,
    src_asn         INTEGER,              -- offline enrichment (--geoip)
    src_org         VARCHAR,
    src_country     VARCHAR,
    user_agent      VARCHAR,
    model           VARCHAR,
    region          VARCHAR,
    api_version     VARCHAR,
    tokens_in       BIGINT,
    tokens_out      BIGINT,
    end_user        VARCHAR,              -- gateway end user / proxy token
    forwarded       BOOLEAN,              -- forwarding headers (x-forwarded-for, ...) present; NULL if the source cannot tell
    prompt          VARCHAR,              -- prompt text where the source has it (Bedrock invocation logs, gateway logs)
    source_format   VARCHAR NOT NULL,     -- cloudtrail | bedrock-invocation | azure-diagnostics | azure-activity | litellm-spendlogs | openai-audit
    source_file     VARCHAR NOT NULL,
    source_offset   BIGINT,               -- line number (JSONL, CSV) or record index within the file
    raw             VARCHAR USING COMPRESSION zstd -- the original record as JSON text (valid JSON; query it with ->>, json_extract)
);
-- No indexes, on purpose: each costs more per inserted row than the record's parsing. `id` is kept
-- unique by the ingest writer (the only writer of this table): every transaction drops the ids
-- repeated within its batch and those already stored (an anti-join on id) before inserting. Filters on
-- `time` or `key_fingerprint` are pruned by DuckDB's per-row-group zone maps (min/max), which need no
-- index. `raw` is VARCHAR, not JSON: the JSON type re-validates every record on insert (half the
-- insert cost), and the records were already decoded by the parser; the json functions accept text.
-- zstd for `raw` (~1 KB a record): measured against the default (dictionary/FSST) on CloudTrail, it
-- checkpoints in about half the time and is 4x smaller on disk, for ~1.7x slower raw->> scans.

-- Records that could not be mapped: kept with where they came from and why, never dropped.
CREATE TABLE quarantine (
    source_file   VARCHAR NOT NULL,
    source_offset BIGINT,                 -- line or record index (or byte offset for truncated input)
    source_format VARCHAR,
    reason        VARCHAR NOT NULL,
    raw           VARCHAR,                -- the record text as read (truncated to 64 KiB)
    ingested_at   TIMESTAMPTZ NOT NULL
);

-- Files already ingested, for incremental runs: a file is skipped when path, size and hash match.
CREATE TABLE ingested_files (
    path          VARCHAR PRIMARY KEY,
    sha256        VARCHAR NOT NULL,
    size          BIGINT NOT NULL,
    format        VARCHAR NOT NULL,
    records       BIGINT NOT NULL,
    stored        BIGINT NOT NULL,
    duplicates    BIGINT NOT NULL,
    quarantined   BIGINT NOT NULL,
    finished_at   TIMESTAMPTZ NOT NULL
);
