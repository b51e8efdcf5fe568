"""Things registered by name: one registration and lookup for selectors, learners and datasets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from prune4rel.validation import ParameterError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(dict[str, T]):
    """Registered things of one kind, by name (a ``dict`` with checked registration and lookup).

    Parameters
    ----------
    kind : str
        What is registered, in messages (``"selector"``: "selector name 'x' is already
        registered", "a selector name").
    param : str
        The parameter a name is given as, in messages (``"method"``: "unknown method 'x'").
    fold : bool
        Whether a lookup ignores case and reads '-' as '_'.
    aliases : mapping of str to str
        Other names (folded) for registered ones.
    sort : bool
        Whether :meth:`names` lists the names sorted (else in registration order).
    """

    def __init__(
        self, kind: str, param: str, *, fold: bool = True, aliases: Mapping[str, str] | None = None,
        sort: bool = True,
    ) -> None:
        super().__init__()
        self.kind, self.param, self.fold, self.sort = kind, param, fold, sort
        self.aliases = dict(aliases or {})

    def copy(self) -> Registry[T]:
        """A registry of the same kind holding the same entries."""
        other: Registry[T] = Registry(
            self.kind, self.param, fold=self.fold, aliases=self.aliases, sort=self.sort
        )
        other.update(self)
        return other

    def add(self, name: str, item: T) -> T:
        """Register ``item`` as ``name`` and return it.

        Raises
        ------
        ValueError
            When something else is registered under that name.
        """
        if name in self and self[name] is not item:
            raise ValueError(f"{self.kind} name {name!r} is already registered")
        self[name] = item
        return item

    def names(self) -> list[str]:
        """The registered names (sorted, or in registration order)."""
        return sorted(self) if self.sort else list(self)

    def lookup(self, name: object) -> T:
        """What is registered as ``name`` (folded and read through the aliases).

        Raises
        ------
        ValueError
            For an unknown name (the message lists the registered ones), or a
            :class:`~prune4rel.validation.ParameterError` naming :attr:`param` for a name
            that is not a string.
        """
        names = ", ".join(self.names())
        if not isinstance(name, str):
            raise ParameterError(self.param, name, f"a {self.kind} name (one of {names})")
        key = name.lower().replace("-", "_") if self.fold else name
        key = self.aliases.get(key, key)
        if key not in self:
            raise ValueError(f"unknown {self.param} {name!r}; available: {names}")
        return self[key]
