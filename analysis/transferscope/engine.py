"""Where per-group work runs: in this process, in a pool of local processes, or on Dask.

An analysis that works group by group (a frontier per task x method x shots; any pandas
group-apply through :func:`map_groups`) hands its groups to an :class:`Engine` and gets the
results back in the order of the groups. Workers receive a group and return its rows; the store
stays on the machine that called the analysis and is the only place with state. Each group's
random numbers derive from the user's seed and the group's key
(:func:`transferscope.rng.keyed_seed`), so the numbers do not depend on which engine ran a
group, on which worker, or in which order.

Engines:

- :class:`LocalEngine` (the default): this process (``n_jobs=1``) or a pool of ``n_jobs``
  local processes.
- :class:`DaskEngine`: a Dask cluster (``pip install 'transferscope[dask]'``). With an
  ``address`` it connects to a running scheduler (``tcp://host:8786``); without one it starts a
  local cluster of ``n_workers`` workers for as long as the engine is open::

      with DaskEngine("tcp://scheduler:8786") as engine:
          fits = fit_frontiers(runs, engine=engine)

  Every worker needs the same versions of transferscope and its dependencies as the client
  (families or estimators registered by the user must be importable there too).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from transferscope.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ENGINES",
    "DaskEngine",
    "Engine",
    "LocalEngine",
    "map_groups",
    "resolve_engine",
    "worker_count",
]

T = TypeVar("T")
R = TypeVar("R")

#: Engine names accepted where an engine may be named (the command line's ``--engine``).
ENGINES: tuple[str, ...] = ("local", "dask")

Done = Callable[[int], object]


class Engine(Protocol):
    """Runs a function over items and returns the results in the items' order."""

    @property
    def name(self) -> str:
        """Short name (``local``, ``dask``)."""
        ...

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, on_done: Done | None = None
    ) -> list[R]:
        """Apply ``fn`` to every item; ``on_done(k)`` is called as ``k`` more items finish."""
        ...


def worker_count(n_jobs: int) -> int:
    """Count the workers for ``n_jobs`` (-1: every core of this machine).

    Parameters
    ----------
    n_jobs : int
        As passed by the user.

    Returns
    -------
    int
        At least 1.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int):
        raise InputError(f"n_jobs must be an integer, got {n_jobs!r}")
    if n_jobs == -1:
        return os.cpu_count() or 1
    return max(1, int(n_jobs))


@dataclass(frozen=True)
class LocalEngine:
    """Run in this process (``n_jobs=1``) or in a pool of local processes.

    Parameters
    ----------
    n_jobs : int
        Worker processes (-1: every core).
    """

    n_jobs: int = 1

    @property
    def name(self) -> str:
        """``local``."""
        return "local"

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, on_done: Done | None = None
    ) -> list[R]:
        """Apply ``fn`` to every item, in order (see :class:`Engine`).

        Parameters
        ----------
        fn : callable
            A module-level function (or a ``functools.partial`` of one) when ``n_jobs > 1``,
            so that it can be sent to another process.
        items : sequence
            The work.
        on_done : callable, optional
            Called with 1 as each item finishes.

        Returns
        -------
        list
            ``[fn(item) for item in items]``.
        """
        jobs = worker_count(self.n_jobs)
        out: list[R] = []
        if jobs == 1 or len(items) <= 1:
            for item in items:
                out.append(fn(item))
                if on_done is not None:
                    on_done(1)
            return out
        with ProcessPoolExecutor(max_workers=min(jobs, len(items))) as pool:
            for result in pool.map(fn, items, chunksize=1):
                out.append(result)
                if on_done is not None:
                    on_done(1)
        return out


def _run_chunk(fn: Callable[[Any], Any], chunk: Sequence[Any]) -> list[Any]:
    return [fn(item) for item in chunk]


@dataclass
class DaskEngine:
    """A Dask cluster: a running scheduler, or a local cluster started for the engine.

    Parameters
    ----------
    address : str, optional
        Address of a running scheduler (``tcp://host:8786``). Without one a local cluster is
        started when the engine opens and closed when it closes.
    n_workers : int
        Workers of the local cluster (ignored with ``address``).
    processes : bool
        Local workers as processes (True) or as threads of this process (False: no start-up
        cost, but the work shares one interpreter).
    threads_per_worker : int
        Threads per local worker; 1 keeps one group per core.
    tasks_per_thread : int
        Items are sent in about this many batches per worker thread (fewer, larger tasks cost
        less scheduling; more keep the workers evenly busy).
    timeout : str
        How long to wait for the scheduler (a Dask duration, e.g. ``"10s"``).
    client : distributed.Client, optional
        Use this client instead (the caller keeps and closes it).
    """

    address: str | None = None
    n_workers: int = 2
    processes: bool = True
    threads_per_worker: int = 1
    tasks_per_thread: int = 8
    timeout: str = "10s"
    client: Any = None
    _owned: list[Any] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.address is not None and not str(self.address).strip():
            raise InputError("the Dask scheduler address is empty; expected e.g. tcp://host:8786")
        for label, value in (
            ("n_workers", self.n_workers),
            ("threads_per_worker", self.threads_per_worker),
            ("tasks_per_thread", self.tasks_per_thread),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{label} must be a positive integer, got {value!r}")

    @property
    def name(self) -> str:
        """``dask``."""
        return "dask"

    def open(self) -> DaskEngine:
        """Connect to the scheduler, or start the local cluster (idempotent).

        Returns
        -------
        DaskEngine
            ``self``.

        Raises
        ------
        InputError
            When dask.distributed is not installed or the scheduler cannot be reached.
        """
        if self.client is not None:
            return self
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError(
                "the Dask engine needs dask.distributed: pip install 'transferscope[dask]'"
            ) from None
        if self.address is not None:
            try:
                client = Client(self.address, timeout=self.timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise InputError(
                    f"cannot reach the Dask scheduler at {self.address}: {exc}"
                ) from None
            self._owned.append(client)
        else:
            cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=self.threads_per_worker,
                processes=self.processes,
                dashboard_address=":0",  # any free port: two clusters may run at once
            )
            self._owned.append(cluster)
            client = Client(cluster, set_as_default=False)
            self._owned.append(client)
        self.client = client
        return self

    def close(self) -> None:
        """Close what the engine opened (a client it was given stays open)."""
        owned, self._owned = self._owned, []
        if owned:
            self.client = None
        for thing in reversed(owned):
            thing.close()

    def __enter__(self) -> DaskEngine:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def threads(self) -> int:
        """Worker threads of the cluster (the engine must be open)."""
        info = self.client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def map(
        self, fn: Callable[[T], R], items: Sequence[T], *, on_done: Done | None = None
    ) -> list[R]:
        """Apply ``fn`` to every item on the cluster, in order (see :class:`Engine`).

        Parameters
        ----------
        fn : callable
            Serializable by cloudpickle (module-level functions travel by reference).
        items : sequence
            The work, sent in batches.
        on_done : callable, optional
            Called with the size of each batch as it finishes.

        Returns
        -------
        list
            ``[fn(item) for item in items]``.
        """
        if not items:
            return []
        with self._session() as client:
            n_tasks = min(len(items), self.threads * self.tasks_per_thread)
            size = math.ceil(len(items) / n_tasks)
            chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
            futures = [client.submit(_run_chunk, fn, chunk, pure=False) for chunk in chunks]
            results: list[R] = []
            try:
                for future, chunk in zip(futures, chunks, strict=True):
                    results.extend(future.result())
                    if on_done is not None:
                        on_done(len(chunk))
            finally:
                client.cancel(futures)
        return results

    @contextmanager
    def _session(self) -> Iterator[Any]:
        opened = self.client is None
        self.open()
        try:
            yield self.client
        finally:
            if opened:
                self.close()


def resolve_engine(
    engine: Engine | str | None = None, n_jobs: int = 1, *, scheduler: str | None = None
) -> Engine:
    """Turn the user's choice into an engine.

    Parameters
    ----------
    engine : Engine, {"local", "dask"} or None
        An engine, or its name; None is ``"local"`` (``"dask"`` when ``scheduler`` is given).
    n_jobs : int
        Local processes, or the workers of a local Dask cluster (-1: every core).
    scheduler : str, optional
        Address of a running Dask scheduler (implies ``"dask"``).

    Returns
    -------
    Engine
        The engine (a :class:`DaskEngine` made here opens a client for each ``map`` unless
        the caller opens it with ``with``).

    Raises
    ------
    InputError
        For an unknown name, or a scheduler address with the local engine.
    """
    if engine is None:
        engine = "dask" if scheduler is not None else "local"
    if not isinstance(engine, str):
        if scheduler is not None:
            raise InputError("give the scheduler address to the DaskEngine itself")
        return engine
    if engine == "local":
        if scheduler is not None:
            raise InputError("a scheduler address needs the dask engine (--engine dask)")
        return LocalEngine(n_jobs)
    if engine == "dask":
        return DaskEngine(address=scheduler, n_workers=worker_count(n_jobs))
    raise InputError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")


def _apply_group(
    fn: Callable[[tuple[Any, ...], pd.DataFrame], R], item: tuple[tuple[Any, ...], pd.DataFrame]
) -> R:
    return fn(*item)


def map_groups(
    frame: pd.DataFrame,
    by: Sequence[Hashable],
    fn: Callable[[tuple[Any, ...], pd.DataFrame], R],
    *,
    engine: Engine | str | None = None,
    n_jobs: int = 1,
) -> list[tuple[tuple[Any, ...], R]]:
    """Split a frame into groups and apply ``fn(key, group)`` to each on an engine.

    The group-apply of pandas (``groupby(by, dropna=False, sort=True)``), with the groups run
    where the engine runs them; the results come back in the order of the sorted keys.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows.
    by : sequence of str
        Key columns (missing values form their own group); empty: one group of every row.
    fn : callable
        ``fn(key, group)``; a module-level function or a ``functools.partial`` of one when
        the engine runs it elsewhere.
    engine, n_jobs
        See :func:`resolve_engine`.

    Returns
    -------
    list of (tuple, object)
        ``(key, fn(key, group))`` per group; ``key`` is a tuple of the ``by`` values.
    """
    import functools

    if by:
        items = [
            (key if isinstance(key, tuple) else (key,), group)
            for key, group in frame.groupby(list(by), dropna=False, sort=True)
        ]
    else:
        items = [((), frame)]
    runner = resolve_engine(engine, n_jobs)
    results = runner.map(functools.partial(_apply_group, fn), items)
    return [(key, result) for (key, _), result in zip(items, results, strict=True)]
