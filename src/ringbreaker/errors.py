"""One exception base for everything ringbreaker raises on purpose.

Hierarchy::

    RingbreakerError             any expected failure; the CLI maps it to exit code 2
    ├── UsageError               bad flags or arguments
    ├── InputError               unreadable or malformed input; carries source/line/record
    ├── RuleError                a rule file that fails its schema or its own examples
    ├── WorkspaceError           the DuckDB workspace cannot be opened, migrated, read or written
    │   └── EvidenceError        an evidence file an event cites is missing or fails its hash
    └── ResourceError            the machine refused: a full disk, no memory, a worker killed

Each stage maps what its libraries raise into this tree at its boundary (DuckDB errors through
``ringbreaker.workspace.guarded``, OS errors where files are written), so the CLI turns every one
into a message and exit code 2; anything else reaching the CLI is a bug.

Errors carry their source (file, line, record) so a message always says where to look.
"""

from __future__ import annotations

__all__ = [
    "EvidenceError",
    "InputError",
    "ResourceError",
    "RingbreakerError",
    "RuleError",
    "UsageError",
    "WorkspaceError",
]


class RingbreakerError(Exception):
    """Base class: an expected failure with a message fit for the user."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(f"{where}{message}")


class UsageError(RingbreakerError):
    """Bad flags or arguments."""


class InputError(RingbreakerError):
    """An input that cannot be read or parsed."""


class RuleError(RingbreakerError):
    """A rule that fails its schema, does not compile, or fails its own examples."""

    def __init__(self, message: str, *, source: str | None = None, problems: list[str] | None = None) -> None:
        self.problems = problems or []
        detail = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(message + detail, source=source)


class WorkspaceError(RingbreakerError):
    """The workspace database cannot be opened or migrated."""


class EvidenceError(WorkspaceError):
    """An evidence file (a source file kept by SHA-256 beside the workspace) is missing, or its
    bytes no longer hash to the SHA-256 the events cite: the record cannot be vouched for."""


class ResourceError(RingbreakerError):
    """The machine refused the work: a full disk, no memory, a worker process that was killed.

    Not the input's fault and not a bug: the same run may succeed with more room, so callers that
    loop (a watcher) can tell it from bad input.
    """
