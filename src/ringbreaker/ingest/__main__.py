"""``python -m ringbreaker.ingest PATH... --workspace W``: the same as ``ringbreaker ingest``.

The ingest library does not depend on the command layer, so this entry does not import it: it runs
the ``ringbreaker`` program (its ``__main__``) with the ``ingest`` verb put before the arguments.
"""

from __future__ import annotations

import runpy
import sys

if __name__ == "__main__":
    sys.argv[1:1] = ["ingest"]
    runpy.run_module("ringbreaker", run_name="__main__", alter_sys=True)
