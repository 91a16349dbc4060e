"""Checking on a Dask cluster: ``histcheck analyze --dask tcp://scheduler:8786`` or ``--workers N``.

A history over independent keys is as many searches as it has keys (linearizability is compositional), and a
batch of histories is the sum of theirs.  ``DaskSpread`` is the ``KeySpread`` of ``histcheck.checker.check``
that runs each key's search as one Dask task: the partition, the configured model and its initial state are
plain picklable data, so a task carries everything its search needs, and the worker runs exactly the search a
local check runs (``checker.search_key``), with the same engine.  The verdict is then assembled here as for a
local check, so it is the same verdict with the same failing operation.

What a local check promises holds per task:

* the time limit is one deadline for the whole check, sent as a wall-clock instant (monotonic clocks differ
  between machines; the cluster's clocks are assumed to agree, as with NTP) and turned back into the worker's
  monotonic clock when the task starts, so a task that starts late has only what is left;
* the memory limit applies to each task inside its worker, whole (a local check divides it among its threads,
  which share one process; a worker process runs one search per thread);
* Ctrl-C cancels the futures not yet run and sets a Dask ``Event`` that running searches read (at most every
  ``CANCEL_POLL`` seconds, at the points where they read a local Ctrl-C), so they stop at their next slice and
  the result is unknown with cause ``interrupted``;
* a worker lost mid-task (its process killed, its machine gone) is Dask's to handle: the scheduler gives the
  task to another worker, up to ``distributed.scheduler.allowed-failures`` times.

One progress bar (rich, on stderr, only when stderr is a terminal) counts the keys of the whole job: every file
of a batch adds its keys to the same bar.  A batch checks ``lanes()`` files at once (``batch.run_batch``), so
that files of one key each keep every worker busy too, and one file is read while others are searched.

Nothing here is imported for a local check: the CLI imports this module only for ``--dask`` or ``--workers``.
"""
from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
import uuid
import warnings
from typing import Any

from .checker import search_key
from .checker.encode import Partition
from .checker.reference import SearchOutcome
from .errors import InputError
from .history import Call
from .models import Model

CANCEL_POLL = 0.25           # seconds between a running search's looks at the cancel Event (a scheduler round trip)
CONNECT_TIMEOUT = 20         # seconds to reach a scheduler before giving up on the address
MAX_LANES = 32               # files of a batch in flight at most (each holds its parsed history)
LATE_GRACE = 10.0            # seconds past the deadline after which tasks still not back count as out of time


class ClusterCancel:
    """The ``cancel`` a search reads on a worker: a Dask Event, looked up at most every ``CANCEL_POLL`` s."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._looked = time.monotonic()      # a search shorter than CANCEL_POLL never pays the round trip
        self._set = False
        self._event = None

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self._set and now - self._looked >= CANCEL_POLL:
            self._looked = now
            if self._event is None:
                from distributed import Event
                self._event = Event(self.name)
            try:
                self._set = self._event.is_set()
            except Exception:  # noqa: BLE001 - a scheduler that is gone cannot be asked; the search goes on
                pass
        return self._set


def _probe(address: str) -> None:
    """Fail fast on an address Dask cannot use or a TCP port nobody listens on: a Client that cannot connect
    keeps retrying until its timeout, and again when it is collected."""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port
    from distributed.comm.registry import get_backend
    scheme, location = parse_address(address)
    get_backend(scheme)                                     # ValueError naming the known schemes
    if scheme in ("tcp", "tls"):
        host, port = parse_host_port(location)
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()


def travelling(part: Partition) -> Partition:
    """What a task carries of a key: the search reads of each call only its status and its positions (plus the
    model inputs, footprints, blind and pure flags), never its operations, which are most of a call's pickled size.
    The failure report is built here from the full partition; the outcome names calls by number."""
    calls = [Call(c.id, None, None, None, c.status, None, None, c.call_pos, c.return_pos) for c in part.calls]
    return Partition(None, calls, part.inputs, [], part.footprints, part.blind, part.pure)


def search_task(part: Partition, m: Model, init_state: Any, engine: str, wall_deadline: float | None,
                memory_limit: int | None, cancel_name: str) -> tuple[SearchOutcome, float]:
    """One key's search on a worker: what ``check`` would have run in a thread, with the same budgets."""
    deadline = None if wall_deadline is None else time.monotonic() + (wall_deadline - time.time())
    _, outcome, seconds = search_key(part, m, init_state, engine=engine, deadline=deadline,
                                     memory_limit=memory_limit, cancel=ClusterCancel(cancel_name))
    return outcome, seconds


class DaskSpread:
    """Keys as Dask tasks, on the scheduler at ``address`` or on a local cluster of ``workers`` processes.

    Use it as a context manager around the whole job (one file or a batch): it connects once, keeps one progress
    bar, and on leaving closes the client and the local cluster it started."""

    def __init__(self, address: str | None = None, workers: int | None = None, *, progress: bool | None = None,
                 threads_per_worker: int = 1) -> None:
        if (address is None) == (workers is None):
            raise InputError("give either a scheduler address or a number of local workers",
                             expected="--dask tcp://HOST:PORT or --workers N")
        self.address = address
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.client = None
        self.cluster = None
        self.tasks = 0                     # tasks submitted so far (the benchmark divides by it)
        self._local = threading.local()    # per thread (a batch checks several files at once): the last note
        self._lock = threading.Lock()
        self._running: dict[str, list] = {}    # cancel Event name -> the futures of one check still running
        self._bar = None
        self._bar_task = None
        self._cancelled = False

    # -- connecting --------------------------------------------------------------------------------------------

    def __enter__(self) -> "DaskSpread":
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("checking on Dask needs the dask extra, which is not installed",
                             expected="pip install 'histcheck[dask]', or no --dask/--workers") from None
        logging.getLogger("distributed").setLevel(logging.ERROR)
        if self.address is not None:
            try:
                _probe(self.address)
                self.client = Client(self.address, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(f"cannot reach the Dask scheduler at {self.address}: {exc}",
                                 expected="--dask tcp://HOST:PORT of a running `dask scheduler`") from None
        else:
            # A terminal's Ctrl-C reaches the whole process group: the workers are started ignoring SIGINT (an
            # ignored signal stays ignored across exec), so that this process alone decides what Ctrl-C does.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                with warnings.catch_warnings():     # the scheduler's HTTP port taken by another cluster: any will do
                    warnings.simplefilter("ignore")
                    self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=self.threads_per_worker,
                                                processes=True, dashboard_address=None,
                                                silence_logs=logging.ERROR)
            finally:
                signal.signal(signal.SIGINT, previous)
            self.client = Client(self.cluster, set_as_default=False)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop_bar()
        for closing in (self.client, self.cluster):
            if closing is not None:
                try:
                    closing.close()
                except Exception:  # noqa: BLE001 - closing after Ctrl-C or a lost scheduler may fail; nothing to keep
                    pass
        self.client = self.cluster = None

    @property
    def note(self) -> str:
        """What the last check of this thread should say about where its keys ran."""
        return getattr(self._local, "note", "")

    def lanes(self) -> int:
        """How many files of a batch to check at once: one more than the cluster's threads, so that one file is
        read while the others' keys keep every worker busy (a batch of one-key files too)."""
        threads = sum(w.get("nthreads", 1) for w in self.client.scheduler_info(n_workers=-1)["workers"].values())
        return max(2, min(MAX_LANES, threads + 1))

    def interrupt(self) -> None:
        """Ctrl-C outside the thread of a check: stop every check running on the cluster."""
        from distributed import Event
        self._cancelled = True
        with self._lock:
            running = list(self._running.items())
        for name, futures in running:
            self._cancel(futures, name, Event)

    # -- the KeySpread ---------------------------------------------------------------------------------------

    def search_keys(self, parts: list[Partition], m: Model, init_state: Any, *, engine: str,
                    deadline: float | None, memory_limit: int | None, outcomes: list) -> None:
        """Search every part as a task; append ``(part, outcome, seconds)`` in the order of ``parts``."""
        if self.client is None:
            raise RuntimeError("DaskSpread used outside its `with` block")
        from distributed import Event
        if self._cancelled:
            raise KeyboardInterrupt
        wall_deadline = None if deadline is None else time.time() + (deadline - time.monotonic())
        cancel_name = f"histcheck-cancel-{uuid.uuid4().hex}"
        futures = [self.client.submit(search_task, travelling(part), m, init_state, engine, wall_deadline,
                                      memory_limit, cancel_name, key=f"histcheck-key-{i}-{cancel_name}", pure=False)
                   for i, part in enumerate(parts)]
        with self._lock:
            self.tasks += len(futures)
            self._running[cancel_name] = futures
            self._grow_bar(len(futures))
        try:
            done = self._gather(futures, deadline)
        except KeyboardInterrupt:
            self._cancel(futures, cancel_name, Event)
            raise
        finally:
            with self._lock:
                self._running.pop(cancel_name, None)
        where = self.address or f"a local cluster of {self.workers} worker processes"
        self._local.note = f"searched {len(parts)} key{'s' if len(parts) != 1 else ''} as Dask tasks on {where}"
        for i, part in enumerate(parts):
            if i in done:
                outcome, seconds = done[i]
                outcomes.append((part, outcome, seconds))

    def _gather(self, futures: list, deadline: float | None) -> dict[int, tuple[SearchOutcome, float]]:
        """Results by index as they complete; past the deadline (with grace), the rest are out of time."""
        from distributed import as_completed
        from distributed.client import FutureCancelledError
        from distributed.scheduler import KilledWorker
        index = {f.key: i for i, f in enumerate(futures)}
        done: dict[int, tuple[SearchOutcome, float]] = {}
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic()) + LATE_GRACE
        pending = as_completed(futures, timeout=timeout, with_results=False, loop=self.client.loop)
        try:
            for future in pending:
                try:
                    done[index[future.key]] = future.result()
                except KilledWorker as exc:
                    raise RuntimeError(f"a key's search was lost with every worker that ran it ({exc}); is a "
                                       "worker's memory limit below the search's --memory-limit?") from None
                except FutureCancelledError:
                    raise KeyboardInterrupt from None
                self._advance_bar()
        except TimeoutError:
            for i, future in enumerate(futures):
                if i not in done:
                    future.cancel()
                    done[i] = (SearchOutcome(None, "time"), 0.0)
        return done

    def _cancel(self, futures: list, cancel_name: str, event_class) -> None:
        """Ctrl-C: stop the running searches (the Event) and drop the queued ones (cancel)."""
        self._cancelled = True
        try:
            event_class(cancel_name, client=self.client).set()
            self.client.cancel(futures)
        except Exception:  # noqa: BLE001 - a second Ctrl-C or a lost scheduler: closing the client ends them anyway
            pass

    # -- the one progress bar --------------------------------------------------------------------------------

    def _grow_bar(self, n: int) -> None:
        if not self.progress:
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self._bar = Progress(TextColumn("checking keys on Dask"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._bar.start()
            self._bar_task = self._bar.add_task("keys", total=0)
        self._bar.update(self._bar_task, total=self._bar.tasks[0].total + n)

    def _advance_bar(self) -> None:
        if self._bar is not None:
            with self._lock:
                self._bar.advance(self._bar_task)

    def _stop_bar(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
