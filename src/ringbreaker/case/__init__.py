"""Case files for crews: ``case.json`` (one documented structure), ``case.html`` (one self-contained
page a lawyer can read offline) and ``case.stix.json`` (a STIX 2.1 bundle for threat-intel tools).

Reads only the workspace. ``write_cases`` is what ``ringbreaker case`` runs.
"""

from ringbreaker.case.build import build_case
from ringbreaker.case.prices import estimate as estimate_cost
from ringbreaker.case.write import Written, write_case, write_cases

__all__ = ["Written", "build_case", "estimate_cost", "write_case", "write_cases"]
