"""What an import is registered with, beside its job's own arguments, on either engine.

A job's ``enqueue(*args, **kwargs)`` hands every argument to the job, whatever its name; what
the registry records of the import is given first, with ``options``::

    token = import_products.options(total=count, metadata=item).enqueue(path, total=True)
    token = import_part.options(totals=[5000, 5000]).enqueue_chunks([(path, 0), (path, 1)])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["ImportOptions"]


class Enqueues(Protocol):
    """An engine's import job or task: what :class:`ImportOptions` hands the arguments to."""

    def enqueue_with(
        self, options: ImportOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> str: ...

    def enqueue_chunks_with(
        self, options: ImportOptions, parts: Iterable[Sequence[Any]], kwargs: dict[str, Any]
    ) -> str: ...


@dataclass(frozen=True)
class ImportOptions:
    """A job or task with what its import is registered with: ``total`` (records expected)
    and ``metadata`` (what the host says of it: OCC's ``mode``, ``fileName``, ``id``,
    ``format``, the webhooks' links); for a parallel import, also ``totals`` (each chunk's)
    and ``continue_on_error``. Made by the job's or task's ``options(...)``."""

    job: Enqueues = field(repr=False)
    total: int | None = None
    metadata: Mapping[str, Any] | None = None
    totals: Sequence[int | None] | None = None
    continue_on_error: bool = False

    def enqueue(self, *args: Any, **kwargs: Any) -> str:
        """Register a pending process with these options, hand the job ``args`` and
        ``kwargs`` (all of them, whatever their names) under its token, and return the
        token. When the engine cannot take the job, the process is ended ``aborted`` (it will
        never run) and the error goes on."""
        if self.totals is not None or self.continue_on_error:
            raise TypeError(
                "totals and continue_on_error are options of a parallel import: use "
                "enqueue_chunks(parts)."
            )
        return self.job.enqueue_with(self, args, kwargs)

    def enqueue_chunks(self, parts: Iterable[Sequence[Any]], **kwargs: Any) -> str:
        """Register a parallel import of one chunk per item of ``parts`` (each the job's
        positional arguments; ``kwargs`` go to every chunk) with these options, hand each
        chunk to the engine under its chunk's token, and return the import's token. When they
        cannot all be handed over, the import is aborted, which ends it and every chunk at
        once (none will run), and the error goes on."""
        return self.job.enqueue_chunks_with(self, parts, kwargs)

    @property
    def registration(self) -> dict[str, Any]:
        """The keyword arguments of the registry's ``register_chunks``."""
        return {
            "totals": self.totals,
            "total": self.total,
            "continue_on_error": self.continue_on_error,
            "metadata": self.metadata,
        }
