"""Rules as data: the loader, the JSON schemas and the built-in rule packs.

Built-in rules ship as package data under ``builtin/<kind>/*.yaml``; each file is one rule
(or, for secrets, a list of the rules of one provider) validated against ``schema/<kind>-rule.schema.json``.
"""

from ringbreaker.rules.detections import DetectionRule, load_detection_rules
from ringbreaker.rules.loader import SecretRule, load_secret_rules

__all__ = ["DetectionRule", "SecretRule", "load_detection_rules", "load_secret_rules"]
