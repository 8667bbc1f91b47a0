"""attribute: from alerts to crews, their members' roles, the keys they stole and a timeline."""

from ringbreaker.attribute.engine import CREW_ORDER, AttributeConfig, Result, attribute, read_crews, to_json
from ringbreaker.attribute.roles import CrewResult, Member

__all__ = [
    "CREW_ORDER",
    "AttributeConfig",
    "CrewResult",
    "Member",
    "Result",
    "attribute",
    "read_crews",
    "to_json",
]
