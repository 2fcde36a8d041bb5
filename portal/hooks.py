"""Extension points: a lower app announces an event, the apps above it act on it.

A lower app cannot import the apps above it (the import contracts in pyproject.toml), so it
declares a `Hook`, calls it where the event happens, and the upper apps register their
receivers in their `AppConfig.ready()`. Receivers run in registration order (the order of
INSTALLED_APPS), inside the caller's transaction.
"""

from collections.abc import Callable
from typing import Any


class Hook:
    def __init__(self, name: str):
        self.name = name
        self._receivers: list[Callable[..., Any]] = []

    def register(self, receiver: Callable[..., Any]) -> Callable[..., Any]:
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def __call__(self, **kwargs) -> list[Any]:
        """Call every receiver with the event's keyword arguments; their answers in order."""
        return [receiver(**kwargs) for receiver in self._receivers]

    def __repr__(self):
        return f"Hook({self.name!r}, receivers={len(self._receivers)})"
