"""Where tasks run: a local process pool, or an existing Dask cluster (DESIGN §6).

Both executors offer the same small interface, so sweeps (:mod:`simulator.sweep`)
and chunked runs (:mod:`simulator.chunks`) are written once:

- ``submit(fn, *args) -> future`` schedules ``fn(*args)`` (``fn`` must be a
  module-level function, importable on the workers);
- ``as_completed(futures)`` yields futures as they finish, in any order;
- ``future.result()`` returns the value or raises the task's exception;
- ``cancel(futures)``, ``restart()`` and ``close()``.

:class:`LocalExecutor` is a :class:`concurrent.futures.ProcessPoolExecutor`
sized to the cores (no set-up). :class:`DaskExecutor` connects a
``distributed.Client`` to a scheduler address (``tcp://HOST:PORT``) or wraps
a client given to it (e.g. on a ``LocalCluster`` in tests); Dask is imported
only there, so the package works without the ``dist`` extra.

Results never depend on the executor: every random draw of replicate r is keyed
by (seed, component, r) (DESIGN §4), and every task is a pure function of its
arguments.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures as cf
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from .exceptions import ReesimError, UsageError

DIST_EXTRA = "pip install 'reesim[dist]'"  #: the install line for Dask support

__all__ = [
    "DIST_EXTRA",
    "BrokenProcessPool",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "lost_worker_errors",
    "make_executor",
    "quiet_interrupts",
    "running",
    "stop_pool",
]


class Executor(Protocol):
    """What sweeps and chunked runs need from an executor."""

    name: str  #: ``local`` or the scheduler address

    @property
    def workers(self) -> int:
        """Tasks that can run at once (processes or Dask worker threads)."""

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Schedule ``fn(*args)``; return a future with ``result()``."""

    def as_completed(self, fs: Iterable[Any]) -> Iterator[Any]:
        """Yield the futures as they finish."""

    def wait_first(self, fs: Iterable[Any]) -> list[Any]:
        """Block until at least one future is done; return the done ones."""

    def cancel(self, fs: Iterable[Any]) -> None:
        """Cancel futures that have not started (best effort)."""

    def restart(self) -> None:
        """Replace a pool whose workers died (no-op where the scheduler recovers itself)."""

    def close(self) -> None:
        """Release the pool or the client connection."""


def lost_worker_errors() -> tuple[type[BaseException], ...]:
    """Exception classes raised by a future whose worker died, for every executor."""
    errs: list[type[BaseException]] = [BrokenProcessPool]
    try:  # only when Dask is installed; never imported for that purpose alone
        import sys

        if "distributed" in sys.modules:
            from distributed.scheduler import KilledWorker

            errs.append(KilledWorker)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errs)


class LocalExecutor:
    """A local process pool (``concurrent.futures.ProcessPoolExecutor``).

    Parameters
    ----------
    workers : int, optional
        Processes (default: the cores this process may use).

    Notes
    -----
    Workers start with the ``forkserver`` method where the platform has it
    (``spawn`` elsewhere): a fresh interpreter that imports ``simulator``, never
    a fork of a process holding threads (the progress bar) or open files. Their
    BLAS runs single-threaded (``OMP_NUM_THREADS=1`` and the like, as Dask's
    nanny sets for its workers): N processes on N cores do not oversubscribe
    them, and matrix products round the same way as on a Dask worker.
    """

    def __init__(self, workers: int | None = None):
        n = workers if workers is not None else _cores()
        if n < 1:
            raise UsageError(f"--workers {n}: give 1 or more")
        self.name = "local"
        self._n = int(n)
        self._pool: cf.ProcessPoolExecutor | None = None

    @property
    def workers(self) -> int:
        """Processes in the pool."""
        return self._n

    def _get(self) -> cf.ProcessPoolExecutor:
        if self._pool is None:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
            with _starting_workers():
                pool = cf.ProcessPoolExecutor(max_workers=self._n, mp_context=ctx,
                                              initializer=_watch_parent, initargs=(os.getpid(),))
                for f in [pool.submit(_ready) for _ in range(self._n)]:
                    f.result()
            self._pool = pool
        return self._pool

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future[Any]:
        """Schedule ``fn(*args)`` on the pool."""
        return self._get().submit(fn, *args)

    def as_completed(self, fs: Iterable[Any]) -> Iterator[Any]:
        """Yield the futures as they finish."""
        return cf.as_completed(list(fs))

    def wait_first(self, fs: Iterable[Any]) -> list[Any]:
        """Block until at least one future is done; return the done ones."""
        done, _ = cf.wait(list(fs), return_when=cf.FIRST_COMPLETED)
        return list(done)

    def cancel(self, fs: Iterable[Any]) -> None:
        """Cancel futures not yet running."""
        for f in fs:
            f.cancel()

    def restart(self) -> None:
        """Drop a broken pool; the next ``submit`` starts a new one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        """Shut the pool down (waits for running tasks unless they were cancelled)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self) -> None:
        """Shut down at once (after Ctrl-C or a failed task): cancel queued tasks and stop the workers."""
        if self._pool is not None:
            stop_pool(self._pool)
            self._pool = None

    def describe(self) -> str:
        """``local pool (N workers)``."""
        return f"local pool ({self._n} worker{'s' if self._n != 1 else ''})"


class DaskExecutor:
    """Tasks on a Dask cluster through a ``distributed.Client``.

    Parameters
    ----------
    address : str, optional
        Scheduler address, e.g. ``tcp://10.0.0.5:8786`` (started with ``dask scheduler``).
    client : distributed.Client, optional
        An existing client (e.g. on a ``LocalCluster``); it is not closed by :meth:`close`.
    timeout : float
        Seconds to wait for the scheduler [s].

    Raises
    ------
    UsageError
        When Dask distributed is not installed (the message gives the extra to install).
    ReesimError
        When the scheduler cannot be reached.
    """

    def __init__(self, address: str | None = None, client: Any = None, timeout: float = 10.0):
        if client is None and address is None:
            raise UsageError("DaskExecutor needs a scheduler address or a client")
        distributed = _import_distributed(address or "a Dask client")
        self._own = client is None
        if client is None:
            try:
                client = distributed.Client(address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ReesimError(
                    f"cannot reach the Dask scheduler at {address}: {exc}; start one with "
                    f"`dask scheduler` and workers with `dask worker {address}`, or use --scheduler local"
                ) from None
        self._client = client
        self._distributed = distributed
        self.name = str(address or client.scheduler.address)

    @property
    def client(self) -> Any:
        """The ``distributed.Client``."""
        return self._client

    @property
    def workers(self) -> int:
        """Worker threads across the cluster (at least 1)."""
        info = self._client.scheduler_info(n_workers=-1) if _accepts_n_workers(self._client) \
            else self._client.scheduler_info()
        return max(1, sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values()))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Schedule ``fn(*args)`` on the cluster (``pure=False``: every call is its own task)."""
        return self._client.submit(fn, *args, pure=False)

    def as_completed(self, fs: Iterable[Any]) -> Iterator[Any]:
        """Yield the futures as they finish."""
        with self._client.as_current():
            ac = self._distributed.as_completed(list(fs))
        return iter(ac)

    def wait_first(self, fs: Iterable[Any]) -> list[Any]:
        """Block until at least one future is done; return the done ones."""
        fs = list(fs)
        with self._client.as_current():  # our client, default or not
            done, _ = self._distributed.wait(fs, return_when="FIRST_COMPLETED")
        return [f for f in fs if f in done]

    def cancel(self, fs: Iterable[Any]) -> None:
        """Cancel futures (running ones too: Dask frees them)."""
        fs = list(fs)
        if fs:
            self._client.cancel(fs)

    def restart(self) -> None:
        """No-op: the Dask scheduler reschedules the tasks of a lost worker itself."""

    def close(self) -> None:
        """Close the client if this executor opened it."""
        if self._own:
            self._client.close()

    def abort(self) -> None:
        """Close at once (after Ctrl-C)."""
        self.close()

    def describe(self) -> str:
        """``Dask at tcp://… (N worker threads)``."""
        return f"Dask at {self.name} ({self.workers} worker threads)"


def make_executor(scheduler: str = "local", workers: int | None = None) -> LocalExecutor | DaskExecutor:
    """The executor named by ``--scheduler``.

    Parameters
    ----------
    scheduler : str
        ``local`` (a process pool on this machine) or ``tcp://HOST:PORT`` (a running
        Dask scheduler; ``tls://`` and ``ws://`` addresses are passed to Dask too).
    workers : int, optional
        Processes of the local pool (default: the cores); not used with Dask.

    Raises
    ------
    UsageError
        For an unknown scheduler, or a Dask address without Dask installed.
    """
    s = scheduler.strip()
    if s == "local":
        return LocalExecutor(workers)
    if "://" in s and s.split("://", 1)[0] in ("tcp", "tls", "ws", "wss", "ucx"):
        host = s.split("://", 1)[1]
        if not host or host.startswith(":"):
            raise UsageError(f"--scheduler {scheduler!r}: give a host, e.g. tcp://10.0.0.5:8786")
        if workers is not None:
            raise UsageError("--workers sizes the local pool; a Dask cluster has the workers it was started with")
        return DaskExecutor(address=s)
    raise UsageError(f"--scheduler {scheduler!r}: allowed: local, tcp://HOST:PORT (a running Dask scheduler)")


AUTO_POOL_FROM = 256  #: runs of this many replicates or more use the local pool by default


def resolve_scheduler(scheduler: str | None, chunk: int | None, replications: int) -> str | None:
    """Where ``run``/``compare`` simulate: None (in this process) or a ``--scheduler`` name.

    Without ``--scheduler``, runs of :data:`AUTO_POOL_FROM` replicates or more use
    a local process pool on a machine with two or more cores (replicates in chunks,
    results identical to one run); ``--scheduler none`` keeps them in this process.
    """
    if scheduler is not None and scheduler.strip().lower() in ("none", "off"):
        if chunk is not None:
            raise UsageError("--chunk splits replicates for a pool; it has no effect with --scheduler none")
        return None
    if scheduler is not None:
        s = scheduler.strip()
        if s != "local" and "://" not in s:  # what make_executor takes, and none, said here where none is allowed
            raise UsageError(f"--scheduler {scheduler!r}: allowed: local, none (this process), "
                             "tcp://HOST:PORT (a running Dask scheduler)")
        return scheduler
    if chunk is not None or (replications >= AUTO_POOL_FROM and (os.cpu_count() or 1) >= 2):
        return "local"
    return None


#: set to 1 in the pool's workers (unless set): BLAS, and numba's thread count, which the compiled step's
#: threads follow (simulator/_numba_step.threads_for); the workers already fill the cores
BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@contextlib.contextmanager
def running(ex: Any) -> Iterator[Any]:
    """``ex`` for a ``with`` block: closed after it, or stopped at once (``abort``) when the block raises
    (Ctrl-C, a failed chunk), without waiting for the tasks still running."""
    try:
        yield ex
    except BaseException:
        ex.abort()
        raise
    ex.close()


@contextlib.contextmanager
def _starting_workers() -> Iterator[None]:
    """The process state a pool's forkserver and workers inherit while they start, restored after:

    - BLAS and numba on one thread each (:func:`single_threaded_blas`);
    - SIGINT blocked: they inherit the mask and never see Ctrl-C (before its initializer runs, a worker
      would print a KeyboardInterrupt from its imports); here the signal waits until the pool is up;
    - the resource tracker's leaked-semaphore warning filtered: a process ended with ``os._exit`` after a
      stuck stop (:data:`STOPPED`) leaves the pool's semaphores to it."""
    warn = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [warn, "ignore:resource_tracker:UserWarning"]))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if hasattr(signal, "pthread_sigmask") else None
    try:
        with single_threaded_blas():
            yield
    finally:
        if mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if warn is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = warn


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Set the BLAS (and numba) thread variables to 1 (unless already set) while worker processes start."""
    old = {k: os.environ.get(k) for k in BLAS_THREADS}
    for k in BLAS_THREADS:
        os.environ.setdefault(k, "1")
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: pools :func:`stop_pool` left with a stuck manager thread: a worker terminated while it sent a result leaves
#: the thread waiting for the rest of the message, and the interpreter's exit joins that thread, so the
#: command line ends such a process with ``os._exit`` (simulator.cli.main)
STOPPED = 0


def stop_pool(pool: cf.ProcessPoolExecutor, timeout: float = 5.0) -> None:
    """Stop a process pool at once: cancel its queued tasks and terminate its workers (their running tasks
    are abandoned), so that neither this call nor the interpreter's exit waits for them.

    A plain ``shutdown(wait=False)`` after Ctrl-C left workers waiting on their task queue while the
    interpreter's exit joined them: a ``reesim compare`` interrupted at the wrong moment hung for good
    (about 1 run in 20 in a new user's trials). The workers are the pool's own processes
    (``ProcessPoolExecutor._processes``, read where it exists)."""
    global STOPPED
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout)
    if manager is not None:
        manager.join(timeout)  # it sees the workers gone and ends, unless it waits for a half-sent result
        if manager.is_alive():
            STOPPED += 1


def quiet_interrupts() -> None:
    """In a pool worker: leave Ctrl-C to the parent, which stops the pool (:func:`stop_pool`); a terminal
    sends SIGINT to every process of the job, and each worker used to print a KeyboardInterrupt traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _watch_parent(pid: int, every: float = 1.0) -> None:
    """In a pool worker: exit when the process that made the pool is gone (killed, not shut down), and leave
    Ctrl-C to the parent (:func:`quiet_interrupts`).

    A worker blocked on its task queue would otherwise outlive a parent killed by
    SIGKILL or SIGTERM and keep its core busy or idle forever.
    """
    import threading
    import time

    quiet_interrupts()

    def watch() -> None:
        while True:
            time.sleep(every)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # pragma: no cover - pid reused by another user's process
                os._exit(1)

    threading.Thread(target=watch, name="reesim-parent-watch", daemon=True).start()


def _ready() -> int:
    """A no-op task that makes the pool start its worker processes."""
    return os.getpid()


def _import_distributed(what: str) -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError(
            f"--scheduler {what}: Dask distributed is not installed; install the extra with {DIST_EXTRA} "
            "(or use --scheduler local)"
        ) from None
    return distributed


def _accepts_n_workers(client: Any) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)
