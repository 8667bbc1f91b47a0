"""``ringbreaker simulate``: a synthetic world with a planted abuse ring, in real log formats.

Nobody can share real abuse logs, so the demo, the tests and every quality figure stand on this:
organisations with keys and habits (world), leaks in real git repositories (leaks), crews that
check, enable and resell stolen keys (ring), legitimate background (legit), one writer per log
format (cloudtrail, bedrock_logs, azure_diag, azure_activity, litellm, openai_audit) and the ground
truth (truth.json). ``simulate(SimConfig(...))`` is the library entry point.
"""

from __future__ import annotations

from ringbreaker.simulate.engine import DEFAULT_START, SimConfig, Summary, simulate
from ringbreaker.simulate.prompts import builtin as builtin_prompts
from ringbreaker.simulate.prompts import load as load_prompts

__all__ = ["DEFAULT_START", "SimConfig", "Summary", "builtin_prompts", "load_prompts", "simulate"]
