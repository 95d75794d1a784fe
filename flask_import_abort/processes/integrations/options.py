"""What an import is registered with, beside its job's own arguments, on either engine.

A job's ``enqueue(*args, **kwargs)`` hands every argument to the job, whatever its name; what
the registry records of the import is given first, with ``options``::

    token = import_products.options(total=count, metadata=item).enqueue(path)
    token = import_part.options(totals=[5000, 5000]).enqueue_chunks([(path, 0), (path, 1)])
    token = import_rows.enqueue(table, total=True)  # total= is the job's own argument here
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..contract import ProcessKind, checked_kind
from ..parallel import NOT_SENT, Chunks, send_chunks

__all__ = ["Enqueuing", "ImportOptions"]


class Enqueuing:
    """What an engine's import job or task has: ``options(...)``, then ``enqueue`` or
    ``enqueue_chunks``. The engine's class says how one job is handed over
    (:meth:`hand_over`), and may hand a parallel import's chunks over at once
    (:meth:`hand_over_chunks`) or withdraw them (:meth:`withdraw`)."""

    #: The engine's imports (``RQImports``, ``CeleryImports``), whose ``registry`` keeps the
    #: processes.
    imports: Any
    #: The abort of a parallel import whose chunks could not all be handed over.
    not_sent = NOT_SENT

    def options(
        self,
        *,
        total: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        totals: Sequence[int | None] | None = None,
        continue_on_error: bool = False,
        kind: ProcessKind | str = ProcessKind.IMPORT,
    ) -> ImportOptions:
        """What the import is registered with, beside the job's own arguments (an export
        with ``kind="export"``)."""
        return ImportOptions(self, total, metadata, totals, continue_on_error, checked_kind(kind))

    def enqueue(self, *args: Any, **kwargs: Any) -> str:
        """Register a pending process, hand the job ``args`` and ``kwargs`` under its token,
        and return the token; see :meth:`options`."""
        return self.options().enqueue(*args, **kwargs)

    def enqueue_chunks(self, parts: Iterable[Sequence[Any]], **kwargs: Any) -> str:
        """Register a parallel import of one chunk per item of ``parts`` and hand each chunk
        over under its chunk's token; see :meth:`options`."""
        return self.options().enqueue_chunks(parts, **kwargs)

    def enqueue_with(
        self, options: ImportOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> str:
        """Register one process with ``options`` and hand the job over; its token. A job the
        engine does not take ends its process ``aborted`` (it will never run)."""
        registry = self.imports.registry
        token: str = registry.register(
            total=options.total, metadata=options.metadata, kind=options.kind
        )
        try:
            self.hand_over(token, args, kwargs)
        except Exception:
            registry.abort(token)
            raise
        return token

    def enqueue_chunks_with(
        self, options: ImportOptions, parts: Iterable[Sequence[Any]], kwargs: dict[str, Any]
    ) -> str:
        """Register a parallel import with ``options`` and hand its chunks over; its token.
        When they cannot all be handed over, the import is aborted with :attr:`not_sent`, and
        the chunks handed over are withdrawn."""
        parallel = send_chunks(
            self.imports.registry,
            parts,
            lambda chunks: self.hand_over_chunks(chunks, kwargs),
            not_sent=self.not_sent,
            undo=self.withdraw,
            **options.registration,
        )
        return str(parallel.token)

    def hand_over(self, token: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Give the engine the job ``token`` with its arguments."""
        raise NotImplementedError

    def hand_over_chunks(self, chunks: Chunks, kwargs: dict[str, Any]) -> None:
        """Give the engine each chunk, its token and its arguments; by default one by one."""
        for chunk, part in chunks:
            self.hand_over(chunk, part, kwargs)

    def withdraw(self, tokens: list[str]) -> None:
        """Take back what was handed over of a parallel import that could not all be (the
        store refuses the chunks anyway; an engine's fast path). By default nothing."""


@dataclass(frozen=True)
class ImportOptions:
    """A job or task with what its import is registered with: ``total`` (records expected)
    and ``metadata`` (what the host says of it: OCC's ``mode``, ``fileName``, ``id``,
    ``format``, the webhooks' links), ``kind`` (an import, or an export); for a parallel
    import, also ``totals`` (each chunk's) and ``continue_on_error``. Made by the job's or
    task's ``options(...)``."""

    job: Enqueuing = field(repr=False)
    total: int | None = None
    metadata: Mapping[str, Any] | None = None
    totals: Sequence[int | None] | None = None
    continue_on_error: bool = False
    kind: ProcessKind = ProcessKind.IMPORT

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
            "kind": self.kind,
        }
