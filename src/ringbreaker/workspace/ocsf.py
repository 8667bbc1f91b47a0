"""The one mapping between the ``events`` columns and OCSF API Activity (class 6003, OCSF 1.1.0), as
Amazon Security Lake writes CloudTrail: ``api.operation``, ``src_endpoint.ip``, ``actor.user.uid``...

Two users read it: the ``ocsf`` ingest format (an OCSF record into events columns) and ``export``
(events columns into OCSF-aligned Parquet), so what one writes the other reads back. ``FIELDS`` holds
the attributes whose value a column keeps as is; the few that need a conversion are named in
``CONVERTED`` and coded on each side (epoch milliseconds, status ids, provider names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

VERSION = "1.1.0"
API_ACTIVITY = 6003  # class_uid of API Activity (category 6, Application Activity)
# Classes Security Lake's CloudTrail source writes, all with the same api / actor / src_endpoint
# objects: API Activity, and (OCSF 1.1) Account Change 3001 and Authentication 3002; 3005 was API
# Activity's uid in OCSF 1.0.0-rc.2 (Security Lake's first release).
CLASSES = frozenset({API_ACTIVITY, 3001, 3002, 3005})

# OCSF attribute path -> events column, for values kept as they are (both directions).
FIELDS: tuple[tuple[str, str], ...] = (
    ("metadata.uid", "id"),  # read: the record's own id (hashed into events.id like any rid)
    ("api.operation", "operation"),
    ("api.service.name", "service"),
    ("api.version", "api_version"),
    ("api.response.error", "error_code"),
    ("actor.user.uid", "actor"),
    ("actor.user.type", "actor_type"),
    ("actor.user.credential_uid", "key_id"),
    ("cloud.account.uid", "account"),
    ("cloud.region", "region"),
    ("src_endpoint.ip", "src_ip"),
    ("src_endpoint.autonomous_system.number", "src_asn"),
    ("src_endpoint.autonomous_system.name", "src_org"),
    ("src_endpoint.location.country", "src_country"),
    ("http_request.user_agent", "user_agent"),
)
# ringbreaker columns OCSF has no attribute for, carried as ``unmapped.<column>`` (OCSF's place for a
# source's other data) so that ringbreaker's export reads back whole.
UNMAPPED: tuple[str, ...] = ("key_fingerprint", "tokens_in", "tokens_out", "end_user", "forwarded", "prompt")
# events column -> the OCSF attributes it is converted from or to (coded by each side).
CONVERTED: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "time": ("time", "time_dt"),  # epoch ms (OCSF timestamp_t) or the datetime profile's time_dt
        "status": ("status_id", "status"),  # 1 Success, 2 Failure, 0 Unknown
        "provider": ("cloud.provider",),  # AWS -> aws, Azure -> azure, GCP -> gcp
        "resource": ("resources[].uid",),  # the first resource
        "account": ("actor.user.account.uid",),  # when cloud.account.uid is missing
        "category": ("metadata.product.feature.name",),  # CloudTrail's Management / Data events
        "model": ("api.request.data",),  # requestParameters.modelId, as Security Lake keeps the JSON
    }
)
STATUS_IDS: Mapping[str, int] = MappingProxyType({"unknown": 0, "success": 1, "failure": 2})
PROVIDERS: Mapping[str, str] = MappingProxyType(
    {"aws": "aws", "azure": "azure", "gcp": "gcp", "google cloud platform": "gcp", "google": "gcp"}
)
# API Activity activity_id from the operation's verb: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other
ACTIVITY_VERBS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, ("Create", "Put", "Add", "Register", "Import", "Start", "Run")),
    (2, ("Get", "List", "Describe", "Lookup", "Search", "Read", "Invoke", "Converse", "Count")),
    (3, ("Update", "Modify", "Set", "Attach", "Associate", "Tag", "Untag", "Enable", "Disable")),
    (4, ("Delete", "Remove", "Detach", "Disassociate", "Deregister", "Stop", "Cancel")),
)


def path_columns() -> dict[str, str]:
    """OCSF path -> events column, for the attributes read and written as they are."""
    return dict(FIELDS)


def tree(fields: Sequence[tuple[str, str]] = FIELDS) -> dict[str, object]:
    """The paths as a nested dict (leaves: the column), the shape of the OCSF objects."""
    root: dict[str, object] = {}
    for path, column in fields:
        node = root
        *parents, leaf = path.split(".")
        for p in parents:
            child = node.setdefault(p, {})
            assert isinstance(child, dict)
            node = child
        node[leaf] = column
    return root
