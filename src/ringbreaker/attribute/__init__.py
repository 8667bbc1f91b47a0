"""attribute: from alerts to crews, their members' roles, the keys they stole and a timeline."""

from ringbreaker.attribute.engine import AttributeConfig, Result, attribute, read_crews, to_json
from ringbreaker.attribute.roles import CrewResult, Member

__all__ = ["AttributeConfig", "CrewResult", "Member", "Result", "attribute", "read_crews", "to_json"]
