"""``python -m ringbreaker.ingest PATH... --workspace W``: the ``ingest`` command without the CLI group."""

from __future__ import annotations

from ringbreaker.cli.ingest import main

if __name__ == "__main__":
    main()
