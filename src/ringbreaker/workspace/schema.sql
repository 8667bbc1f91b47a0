-- ringbreaker workspace schema (DuckDB). One file holds every stage's tables.
--
-- Versioned migrations: each block starts with a line `-- migration N: title` and is applied once,
-- in order, inside one transaction together with its row in schema_migrations. Never edit a
-- released block; append a new one. Later stages (ingest, detect, classify, attribute) add theirs.
--
-- Each table has a row type in ringbreaker/model/ with the same field names, or a mapping it
-- declares (findings: time -> leak_time, commit -> commit_id, column -> col); tests/test_contract.py
-- checks every table here against its type after migrating a fresh workspace.

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
    provider        VARCHAR NOT NULL,     -- aws | azure | gcp | openai | gateway
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
    source_format   VARCHAR NOT NULL,     -- cloudtrail | bedrock-invocation | azure-diagnostics | azure-activity | litellm-spendlogs | openai-audit | guardduty | gcp-audit | ocsf (the format registry)
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

-- migration 3: verdicts (classify)
-- One row per event with prompt text: the prompt model's four calibrated scores and the derived
-- severity. `classify --workspace` scores only events without a verdict from the current model
-- version, so re-runs are incremental and a new model re-scores everything once.
CREATE TABLE verdicts (
    event_id      VARCHAR PRIMARY KEY,   -- events.id
    bypass        DOUBLE NOT NULL,       -- jailbreak, injection, "no rules" framing, obfuscation
    sexual        DOUBLE NOT NULL,       -- sexual or nude content (text or image prompts)
    real_person   DOUBLE NOT NULL,       -- names or identifies a real person
    minor         DOUBLE NOT NULL,       -- refers to a child or teen
    severity      VARCHAR NOT NULL,      -- critical | high | medium | low | none
    labels        VARCHAR[] NOT NULL,    -- labels whose score is at or above its threshold
    model_version VARCHAR NOT NULL,
    scored_at     TIMESTAMPTZ NOT NULL
);

-- migration 4: alerts (detect)
-- One row per (detection rule, entity group). The id is a hash of the rule id and the group key, so
-- re-running detect updates an alert (count, last_time, evidence) instead of raising it again.
CREATE TABLE alerts (
    id               VARCHAR PRIMARY KEY,
    rule             VARCHAR NOT NULL,     -- detection rule id, e.g. det.leaked-key.use
    severity         VARCHAR NOT NULL,     -- info | low | medium | high | critical
    title            VARCHAR NOT NULL,
    summary          VARCHAR NOT NULL,     -- one line, no secrets
    first_time       TIMESTAMPTZ NOT NULL, -- earliest evidence event
    last_time        TIMESTAMPTZ NOT NULL, -- latest evidence event
    count            BIGINT NOT NULL,      -- rule hits grouped into this alert
    key_fingerprints VARCHAR[] NOT NULL,
    principals       VARCHAR[] NOT NULL,
    src_ips          VARCHAR[] NOT NULL,
    accounts         VARCHAR[] NOT NULL,
    resources        VARCHAR[] NOT NULL,   -- Azure resource ids, gateway api_base: where the key has no id in the log
    proxy_hosts      VARCHAR[] NOT NULL,
    end_users        VARCHAR[] NOT NULL,
    event_ids        VARCHAR[] NOT NULL,   -- evidence: events.id
    details          VARCHAR,              -- JSON object of rule-specific values, e.g. minutes_from_leak
    first_detected   TIMESTAMPTZ NOT NULL, -- first detect run that raised it
    last_detected    TIMESTAMPTZ NOT NULL
);

-- migration 5: crews, crew_members, crew_keys, timeline (attribute)
-- Written whole by each `attribute` run (inside one transaction): crews found by community detection
-- on the abuse subgraph, their members with a role and the evidence for it, the stolen keys each crew
-- used (their owners are victims, never members) and a leak-to-abuse timeline.
CREATE TABLE crews (
    id          VARCHAR PRIMARY KEY,    -- stable: hash of the crew's keys and infrastructure
    name        VARCHAR NOT NULL,       -- human label, e.g. the tool or proxy host it is known by
    first_time  TIMESTAMPTZ,
    last_time   TIMESTAMPTZ,
    summary     VARCHAR NOT NULL
);
CREATE TABLE crew_members (
    crew_id      VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,      -- person | tool | user_agent | ip | proxy_host | account | end_user
    entity       VARCHAR NOT NULL,
    role         VARCHAR NOT NULL,      -- creator | provider | user
    confidence   DOUBLE NOT NULL,       -- 0..1
    evidence     VARCHAR NOT NULL,      -- why this role, one line
    evidence_ids VARCHAR[] NOT NULL,    -- alerts.id, events.id and findings.id backing it
    PRIMARY KEY (crew_id, kind, entity)
);
CREATE TABLE crew_keys (
    crew_id          VARCHAR NOT NULL,
    key_fingerprint  VARCHAR NOT NULL,
    victim           VARCHAR,           -- owning account / tenant / subscription
    provider         VARCHAR,
    preview          VARCHAR,           -- redacted, from findings
    leak_time        TIMESTAMPTZ,
    leak_location    VARCHAR,           -- repository/path of the earliest leak
    first_abuse      TIMESTAMPTZ,
    minutes_to_abuse DOUBLE,
    events           BIGINT NOT NULL,   -- abusive events on the key
    tokens_in        BIGINT,
    tokens_out       BIGINT,
    PRIMARY KEY (crew_id, key_fingerprint)
);
CREATE TABLE timeline (
    crew_id         VARCHAR NOT NULL,
    time            TIMESTAMPTZ NOT NULL,
    stage           VARCHAR NOT NULL,   -- leak | key-check | model-enablement | abuse | guardrail-tampering | prohibited-content
    key_fingerprint VARCHAR,
    description     VARCHAR NOT NULL,
    evidence_ids    VARCHAR[] NOT NULL
);

-- migration 6: findings.resource (scan)
-- Where a leaked key can be used, when the leak names it: the Azure OpenAI resource of an endpoint
-- next to the key (lower-case account name). Azure diagnostic logs name the resource, never the key,
-- so this is what joins a leaked Azure key to its use.
ALTER TABLE findings ADD COLUMN resource VARCHAR;

-- migration 7: verifications (scan --verify)
-- The cache of `scan --verify`: one row per key and rule, the latest definitive answer of the
-- provider's read-only check (live or invalid; unknown and network errors are not cached, so they
-- are retried). A later run with the same workspace reuses a row younger than --verify-max-age
-- instead of contacting the provider again. The key itself is never stored, only its fingerprint.
CREATE TABLE verifications (
    fingerprint  VARCHAR NOT NULL,      -- SHA-256 hex of the credential, as findings.fingerprint
    rule         VARCHAR NOT NULL,      -- secret rule id
    provider     VARCHAR NOT NULL,
    verified     VARCHAR NOT NULL,      -- live | invalid
    http_status  INTEGER,               -- the provider's answer
    endpoint     VARCHAR NOT NULL,      -- method and URL checked, e.g. GET https://api.openai.com/v1/models (no key)
    verified_at  TIMESTAMPTZ NOT NULL,  -- when the provider answered
    PRIMARY KEY (fingerprint, rule)
);

-- migration 8: classify_thresholds (classify --calibrate)
-- The prompt model's decision thresholds fitted to this workspace's own (unlabelled) traffic by
-- `classify --calibrate`, so a deployment holds its own false-positive budget. Rows are appended,
-- never updated: the latest row (created_at) per (model_version, label) is the one in use, the older
-- ones are the history. Rows of another model version are ignored (a new model needs its own fit);
-- `classify --calibrate --reset` deletes them all and the shipped thresholds apply again.
CREATE TABLE classify_thresholds (
    model_version VARCHAR NOT NULL,      -- the model the scores came from (verdicts.model_version)
    label         VARCHAR NOT NULL,      -- bypass | sexual (the learned labels calibrate fits)
    threshold     DOUBLE NOT NULL,       -- the one in use: quantile clamped to [shipped * 0.5, max(shipped, 0.9)]
    shipped       DOUBLE NOT NULL,       -- the model's own threshold, for comparison and the clamp
    fpr           DOUBLE NOT NULL,       -- the false-positive budget asked for (--fpr)
    n_prompts     BIGINT NOT NULL,       -- distinct prompt texts the quantile was taken over
    quantile      DOUBLE NOT NULL,       -- the (1 - fpr) quantile of their scores, before the clamp
    created_at    TIMESTAMPTZ NOT NULL
);

-- migration 9: context_networks, context_principals, context_accounts, context_models (context file)
-- What the owner knows and the logs cannot say, from `ringbreaker context FILE` (or `detect
-- --context FILE`): their own networks, their infrastructure-as-code and admin principals, which
-- accounts belong to one owner, and the models a principal is expected to use. Detection rules read
-- it (through the per-run tables detect derives from it, see detect/context.py) so severity reflects
-- who and where. Loading a file replaces all four tables in one transaction.
CREATE TABLE context_networks (
    cidr  VARCHAR NOT NULL,   -- e.g. 203.0.113.0/24 or 2001:db8::/48, normalised (host bits cleared)
    kind  VARCHAR NOT NULL,   -- office | ci | vpn | datacenter | partner
    name  VARCHAR             -- the owner's label, e.g. "HQ egress"
);
CREATE TABLE context_principals (
    pattern VARCHAR NOT NULL, -- glob over events.actor (ARN, user, app id), e.g. arn:aws:iam::*:role/terraform-*
    kind    VARCHAR NOT NULL, -- iac | admin | service | ci
    name    VARCHAR
);
CREATE TABLE context_accounts (
    account VARCHAR NOT NULL, -- events.account: AWS account id, Azure subscription, OpenAI org, gateway team
    owner   VARCHAR NOT NULL  -- accounts with one owner count as one victim (reseller rules)
);
CREATE TABLE context_models (
    pattern VARCHAR NOT NULL, -- glob over events.actor, or a key fingerprint
    model   VARCHAR NOT NULL  -- glob over events.model the principal is expected to call
);

-- migration 10: events.request_length, response_length, guardrail, console, src_anonymizer (fields rules read on every call)
-- Four values detection rules read on millions of model calls, parsed once by ingest instead of out of
-- `raw` on every detect run: decoding Azure's `properties` or scanning a Bedrock record for guardrail
-- markers cost 3-5 s per rule at 10M events, the columns a few milliseconds. NULL where the source
-- cannot tell. Existing rows are filled from `raw` here, with the same rules as the parsers (a test
-- holds the two equal).
ALTER TABLE events ADD COLUMN IF NOT EXISTS request_length BIGINT;   -- request body bytes (Azure diagnostics properties.requestLength)
ALTER TABLE events ADD COLUMN IF NOT EXISTS response_length BIGINT;  -- response body bytes (Azure diagnostics properties.responseLength)
ALTER TABLE events ADD COLUMN IF NOT EXISTS guardrail VARCHAR;       -- Bedrock invocation logs: intervened | applied | none
ALTER TABLE events ADD COLUMN IF NOT EXISTS console BOOLEAN;         -- CloudTrail: made with console session credentials (sessionCredentialFromConsole)
-- tor | anonymous-vpn | proxy | hosting: the address's class in a --geoip GeoIP2 Anonymous IP database
-- (is_tor_exit_node, is_anonymous_vpn, is_public_proxy / is_residential_proxy, is_hosting_provider);
-- NULL when no such database was given or it does not list the address (nothing to fill from raw)
ALTER TABLE events ADD COLUMN IF NOT EXISTS src_anonymizer VARCHAR;
UPDATE events SET
    request_length = TRY_CAST(trunc(TRY_CAST(json_extract_string(raw->>'$.properties', '$.requestLength') AS DOUBLE)) AS BIGINT),
    response_length = TRY_CAST(trunc(TRY_CAST(json_extract_string(raw->>'$.properties', '$.responseLength') AS DOUBLE)) AS BIGINT)
WHERE source_format = 'azure-diagnostics' AND raw IS NOT NULL;
UPDATE events SET guardrail = CASE
    WHEN regexp_matches(raw, '"amazon-bedrock-guardrailAction"\s*:\s*"INTERVENED"|"stopReason"\s*:\s*"guardrail_intervened"')
        THEN 'intervened'
    WHEN regexp_matches(raw, '"guardrailConfig"|"amazon-bedrock-guardrailAction"|"guardrail_intervened"') THEN 'applied'
    ELSE 'none' END
WHERE source_format = 'bedrock-invocation' AND raw IS NOT NULL;
UPDATE events SET console = lower(coalesce(raw->>'$.sessionCredentialFromConsole', '')) = 'true'
WHERE source_format = 'cloudtrail' AND raw IS NOT NULL;

-- migration 11: key_aliases, events.key_via (scan --inventory key ids)
-- Some logs name a key by an id and never carry the secret: the OpenAI audit log names the key id
-- (actor.api_key.id, key_...), Azure OpenAI diagnostics the resource (/accounts/NAME), CloudTrail for
-- temporary credentials the principal ARN. The owner's inventory says which of their keys each id
-- is; `scan --inventory FILE --workspace W` stores those rows (replacing the rows of the same file),
-- and workspace/aliases.py fills events.key_fingerprint from them after each scan and each ingest,
-- so a leak joins its abuse whichever ran first. Only fingerprints are stored, never a secret.
CREATE TABLE key_aliases (
    alias        VARCHAR NOT NULL,      -- as the logs write it: key_..., the Azure resource name (lower case), the principal ARN
    kind         VARCHAR NOT NULL,      -- openai-key-id | azure-resource | aws-principal
    fingerprint  VARCHAR NOT NULL,      -- SHA-256 hex of the key, as findings.fingerprint
    source       VARCHAR NOT NULL,      -- the inventory file (absolute path) the row came from
    added        TIMESTAMPTZ NOT NULL   -- when that scan stored it
);
-- NULL: key_fingerprint is what the record names (or nothing joined); else the alias kind that
-- filled it (openai-key-id | azure-resource | aws-principal), so a later fill can undo it when the
-- inventory changes
ALTER TABLE events ADD COLUMN IF NOT EXISTS key_via VARCHAR;

-- migration 12: crews.confidence/ties, crew_members.first_seen/last_seen/infra_role, crew_edges (attribute v2)
-- A crew is any abuse tied together by infrastructure, tooling or time, one operator's single stolen
-- key included, so each crew says how strong its ties are. Addresses carry when they were used and
-- what for, and the graph the crew was found by is kept (a proxy pool's addresses live here, not as
-- thousands of members). Written whole by each `attribute` run, like the other crew tables.
ALTER TABLE crews ADD COLUMN confidence DOUBLE;          -- 0..1
ALTER TABLE crews ADD COLUMN ties VARCHAR;               -- what makes it one crew, one line
ALTER TABLE crew_members ADD COLUMN first_seen TIMESTAMPTZ;
ALTER TABLE crew_members ADD COLUMN last_seen TIMESTAMPTZ;
ALTER TABLE crew_members ADD COLUMN infra_role VARCHAR;  -- checker | control-plane | egress | proxy-pool | shared (addresses)
CREATE TABLE crew_edges (
    crew_id      VARCHAR NOT NULL,
    source       VARCHAR NOT NULL,   -- kind:value, e.g. ip:203.0.113.7, proxy_pool:proxy-pool
    target       VARCHAR NOT NULL,   -- key:<fingerprint>, account:<principal>, tool:<user agent>, ip:<address>, crew:<id>
    kind         VARCHAR NOT NULL,   -- used-key | signed-in | sent-client | pool-address | shared-with
    weight       DOUBLE NOT NULL,    -- events along the edge
    first_time   TIMESTAMPTZ,
    last_time    TIMESTAMPTZ,
    evidence     VARCHAR NOT NULL,   -- one line
    evidence_ids VARCHAR[] NOT NULL  -- events.id (first ones) behind it
);

-- migration 13: events.source_sha256, evidence (evidence by reference)
-- Each ingested source file is kept as it came (compressed or not) in an evidence store beside the
-- workspace (`<workspace>.evidence/`, or `ingest --evidence DIR`), named by the SHA-256 of its bytes
-- (workspace/evidence.py). An event cites its record there: the file's SHA-256 plus its position
-- (source_offset; among the records of one line of an ndjson `Records` envelope, the one whose
-- id is the event's). `raw` is then NULL for the bulk of the records (model calls); it is still
-- filled where a detection rule reads the record (control-plane CloudTrail calls, GuardDuty, Azure
-- activity, OpenAI audit), and for every record with `ingest --keep-raw`. Rows stored before this
-- migration keep their `raw` and have no source_sha256: `show` prints them from the workspace.
ALTER TABLE events ADD COLUMN IF NOT EXISTS source_sha256 VARCHAR;  -- SHA-256 hex of the source file (of the appended chunk, for lines `watch` read); NULL before migration 13
-- One row per blob put in a store by an ingest (not with --keep-raw, which keeps no files).
CREATE TABLE evidence (
    sha256      VARCHAR NOT NULL,     -- the blob's name: SHA-256 hex of its bytes, as events.source_sha256
    source_file VARCHAR NOT NULL,     -- events.source_file of the records it holds
    line_base   BIGINT NOT NULL,      -- added to a line number in the blob to give source_offset (0; for appended lines, the lines before them)
    size        BIGINT NOT NULL,      -- bytes
    store       VARCHAR NOT NULL,     -- the evidence directory it was put in (absolute)
    added       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sha256, source_file)
);
