"""A Kubernetes Event a plan reports once it is done."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    type: str
    """Normal or Warning."""
    reason: str
    message: str
