"""``repository``: an attribute computed on first use and then kept on the instance.

:func:`functools.cached_property` takes a lock on every first access in
Python 3.11, which costs more than creating a repository; a unit of work is
used by one thread, so it needs no lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["repository"]

T = TypeVar("T")


class repository(Generic[T]):
    """Decorate a method ``name(self) -> T``: the first ``obj.name`` calls it and keeps the result."""

    def __init__(self, make: Callable[[Any], T]) -> None:
        self._make = make
        self._name = make.__name__
        self.__doc__ = make.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> repository[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> T | repository[T]:
        if instance is None:
            return self
        value = self._make(instance)
        instance.__dict__[self._name] = value  # found before this (non-data) descriptor from now on
        return value
