"""Registries of extension classes (curve families, frontier estimators): one way to add one.

A :class:`Registry` maps names to classes. Registering a name that another class holds is
refused unless asked for, so a user's class never silently replaces a built-in one; instances
are created once and shared (extension classes hold no fit state); and :meth:`Registry.ensure`
installs a class in a worker process that started afresh (``spawn``, ``forkserver``) and so
knows only the built-in classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

from transferscope.errors import InputError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Mapping[str, type[T]], Generic[T]):
    """Names to classes of one kind (a read-only mapping plus :meth:`register`).

    Parameters
    ----------
    kind : str
        What is registered, for messages (e.g. ``"family"``).
    base : type
        The class every registered class must derive from.
    name_of : callable
        The name a class is registered under (e.g. ``lambda cls: cls.family_name``).
    """

    def __init__(self, kind: str, base: type[T], name_of: Callable[[type[T]], str]) -> None:
        self.kind = kind
        self.base = base
        self._name_of = name_of
        self._classes: dict[str, type[T]] = {}
        self._instances: dict[type[T], T] = {}

    def __getitem__(self, name: str) -> type[T]:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._classes)})"

    def register(self, cls: type[T], *, replace: bool = False) -> type[T]:
        """Make ``cls`` available under its name (usable as a decorator).

        Parameters
        ----------
        cls : type
            A subclass of :attr:`base`.
        replace : bool, default False
            Replace a different class registered under the same name (a built-in one too).

        Returns
        -------
        type
            ``cls`` unchanged.

        Raises
        ------
        InputError
            ``cls`` is not a subclass of :attr:`base` or has no name, or the name is taken by
            another class and ``replace`` is false.
        """
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise InputError(
                f"a {self.kind} must be a subclass of {self.base.__name__}, got {cls!r}"
            )
        name = self._name_of(cls)
        if not name:
            raise InputError(f"{cls.__name__} has no {self.kind} name")
        held = self._classes.get(name)
        if held is not None and held is not cls and not replace:
            raise InputError(
                f"{self.kind} {name!r} is already registered ({held.__qualname__}); "
                "pass replace=True to replace it"
            )
        self._classes[name] = cls
        return cls

    def unregister(self, name: str) -> None:
        """Remove the class registered under ``name`` (nothing when there is none).

        Parameters
        ----------
        name : str
            A registered name.
        """
        cls = self._classes.pop(name, None)
        if cls is not None:
            self._instances.pop(cls, None)

    def instance(self, name: str) -> T:
        """Return the shared instance of the class registered under ``name``.

        Parameters
        ----------
        name : str
            A registered name.

        Returns
        -------
        object
            The instance (created on first use).

        Raises
        ------
        InputError
            For an unknown name, listing the known ones.
        """
        cls = self._classes.get(name)
        if cls is None:
            raise InputError(f"unknown {self.kind} {name!r}; expected one of {tuple(self)}")
        if cls not in self._instances:
            self._instances[cls] = cls()
        return self._instances[cls]

    def ensure(self, cls: type[T]) -> None:
        """Install ``cls`` under its name as the parent process had it (worker processes).

        Parameters
        ----------
        cls : type
            A class registered in the parent process.
        """
        name = self._name_of(cls)
        if self._classes.get(name) is not cls:
            self._classes[name] = cls
