"""Named parts chosen by one `get(identifier)` per family, as Keras's `initializers.get`.

Where this sits: learners (`agents.learners`), predictive models (`agents.models`),
continual stores (`agents.stores`), lifelong stores (`agents.lifelong.stores`) and
lifelong write policies (`agents.lifelong.replay`) each keep a `Registry` and a
module function `get(identifier)`. A flag's string, a config's dict or the part
itself resolve through it; an unknown name is an error that lists the known
ones, never a silent fallback.

```python
learners.get("replay")                 # by name
learners.get({"name": "replay"})       # from a config dict
learners.get(ReplayLearner)            # a registered part is returned as it is
LEARNERS["l2"] = L2Learner             # a new part is one registry line
```
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name no part is registered under (a KeyError for mappings, a ValueError for runners)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(MutableMapping[str, T]):
    """A name -> part mapping whose lookups fail with a clear error.

    Args:
        family: what the parts are, for messages ("learner", "storage").
        flag: the flag or setting that names one ("--learner").
        entries: name -> part, in the order to list them.
    """

    def __init__(self, family: str, flag: str, entries: Mapping[str, T]) -> None:
        self.family = family
        self.flag = flag
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> T:
        if not isinstance(name, str) or name not in self._entries:
            raise UnknownNameError(
                f"Expected {self.flag} among {list(self._entries)}. Received: {name!r}"
            )
        return self._entries[name]

    def __setitem__(self, name: str, part: T) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Expected a {self.family} name, a string. Received: {name!r}")
        self._entries[name] = part

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.family!r}, {list(self._entries)})"

    def resolve(self, identifier: Any) -> T:
        """The part a name, a {"name": ...} dict, or the part itself identifies.

        Raises:
            UnknownNameError (a ValueError): an unknown name.
            ValueError: a dict with keys other than "name", or an object that is
                not a registered part.
        """
        if isinstance(identifier, str):
            return self[identifier]
        if isinstance(identifier, Mapping):
            if set(identifier) != {"name"}:
                raise ValueError(
                    f'Expected a {self.family} as {{"name": ...}}. Received: {dict(identifier)!r}'
                )
            return self[identifier["name"]]
        for part in self._entries.values():
            if identifier is part:
                return part
        raise ValueError(
            f"Expected a {self.family} name among {list(self._entries)}, a "
            f'{{"name": ...}} dict or a registered {self.family}. Received: {identifier!r}'
        )
