"""Runs the engine in a child process beside the window.

In one process the engine's threads (asyncio loop, SQLAlchemy, httpx) hold Python's interpreter
lock while the window paints, and a flood of texts stalls the GUI for hundreds of milliseconds.
In a process of its own the engine has an interpreter of its own; both share the database
(SQLite in WAL mode across processes, or PostgreSQL).

The child is spawned (never forked: the parent runs Qt), receives its configuration over the
pipe (tokens never travel in argv or the environment), opens the database the parent already
migrated and runs :class:`OutageEngine` as a batch job (Linux ``SCHED_BATCH``: a full share of
the CPU, but no pre-empting the window). It sends back events, status snapshots and log records;
the parent's link thread re-publishes the events on a local :class:`EventBus` and hands the
records to the parent's logging. If the child dies, the parent notices at once, shows both links
offline and starts a new child after a backoff; if the parent dies, the child stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import logging.handlers
import multiprocessing
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from outagedesk.domain.backoff import backoff_delay
from outagedesk.engine.core import Counters, EngineConfig, EngineStatus, LinkStatus, OutageEngine
from outagedesk.engine.events import ConnectionChanged, Event, EventBus, LinkState
from outagedesk.runtime import freeze_heap
from outagedesk.store.db import make_engine, session_factory

log = logging.getLogger(__name__)

STATUS_INTERVAL = 0.2
"""Seconds between status snapshots from the child (sent only when something changed)."""
RESTART_CAP = 30.0
"""Longest wait before starting a new child after a crash."""
HEALTHY_AFTER = 60.0
"""A child that ran this long before dying starts the backoff afresh."""
ORPHAN_GRACE = 30.0
"""An orphaned child that has not finished its transaction by then exits regardless."""
KILL_WAIT = 5.0


class EngineExited(RuntimeError):
    """The engine process ended without being asked to."""


@dataclass(frozen=True)
class ChildSetup:
    """What the child needs, sent over the pipe as its first message."""

    config: EngineConfig
    database_url: str = field(repr=False)  # may carry a password
    log_levels: tuple[tuple[str, int], ...]
    """The root logger's level (name ``""``) and every logger given a level of its own."""
    parent_pid: int
    status_interval: float = STATUS_INTERVAL


# -- the child -------------------------------------------------------------------------------


class _ParentLink:
    """The child's end of the pipe; sends come from several threads."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        # Nothing is logged here: the log handler sends through this very method.
        with self._lock, contextlib.suppress(OSError, ValueError):  # the parent is gone
            self.conn.send(message)


class _PipeLogHandler(logging.handlers.QueueHandler):
    """Sends each record, already formatted (traceback included), to the parent's logging."""

    def __init__(self, link: _ParentLink) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # enqueue is overridden
        self.link = link

    def enqueue(self, record: logging.LogRecord) -> None:
        self.link.send(("log", record))


def _configure_child_logging(link: _ParentLink, levels: tuple[tuple[str, int], ...]) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_PipeLogHandler(link))
    for name, level in levels:
        logging.getLogger(name or None).setLevel(level)


def _leave_if_orphaned(engine: OutageEngine, reason: str) -> None:
    """Stop as after a stop command; exit hard if the transaction does not end in time."""
    log.warning("the window's process is gone (%s): the engine stops", reason)
    engine.stop()
    timer = threading.Timer(ORPHAN_GRACE, os._exit, (3,))
    timer.daemon = True
    timer.start()


def _obey(conn: Connection, engine: OutageEngine) -> None:
    """Commands from the parent; the end of the pipe means the parent died."""
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            _leave_if_orphaned(engine, "its end of the pipe closed")
            return
        if command == "wake":
            engine.wake_forwarder()
        elif command == "stop":
            engine.stop()
            return


def _report_status(
    link: _ParentLink, engine: OutageEngine, done: threading.Event, setup: ChildSetup
) -> None:
    last: EngineStatus | None = None
    while not done.wait(setup.status_interval):
        status = engine.status()
        if status != last:
            link.send(("status", status))
            last = status
        if os.getppid() != setup.parent_pid:
            _leave_if_orphaned(engine, "the parent process id changed")
            return


async def _serve(engine: OutageEngine) -> None:
    loop = asyncio.get_running_loop()
    # A service manager ending the session asks the engine, not Python, to stop.
    loop.add_signal_handler(signal.SIGTERM, engine.stop)
    freeze_heap()
    loop.call_later(15, freeze_heap)
    await engine.run()


def _run_as_batch() -> None:
    """Linux: schedule this process (and the threads it starts) as a batch job.

    The engine keeps its full share of the CPU (no lower priority: forwarding must not give
    way to other programs), but its many wake-ups (network, database, the status thread) no
    longer pre-empt whatever runs on that core, such as the window's GUI thread in the middle
    of painting the feed; they wait their turn instead. Elsewhere, or where the system
    refuses, the engine runs as before.
    """
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_BATCH"):
        try:
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
        except OSError as exc:
            log.info("the engine process runs with the normal scheduling policy: %s", exc)


def child_main(conn: Connection) -> None:
    """The engine process: runs until told to stop, or until its parent is gone."""
    # Ctrl+C in a terminal reaches the whole process group: the window decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup: ChildSetup = conn.recv()
    link = _ParentLink(conn)
    _configure_child_logging(link, setup.log_levels)
    _run_as_batch()  # before any thread starts: they inherit the policy
    database = make_engine(setup.database_url)  # the parent migrated it already
    engine = OutageEngine(setup.config, session_factory(database))

    def forward(event: Event) -> None:
        # A link change travels with the status it produced: the window reads both together.
        snapshot = engine.status() if isinstance(event, ConnectionChanged) else None
        link.send(("event", event, snapshot))

    engine.bus.subscribe(forward)
    done = threading.Event()
    threading.Thread(target=_obey, args=(conn, engine), name="commands", daemon=True).start()
    reporter = threading.Thread(
        target=_report_status, args=(link, engine, done, setup), name="status", daemon=True
    )
    reporter.start()
    code = 0
    try:
        asyncio.run(_serve(engine))
    except BaseException:
        log.exception("the engine process stopped with an error")
        code = 1
    finally:
        done.set()
        reporter.join(2)
        link.send(("status", engine.status()))
        database.dispose()
    sys.exit(code)


# -- the parent ------------------------------------------------------------------------------


def _add_counters(a: Counters, b: Counters) -> Counters:
    return Counters(
        **{f.name: getattr(a, f.name) + getattr(b, f.name) for f in dataclasses.fields(a)}
    )


def _current_log_levels() -> tuple[tuple[str, int], ...]:
    manager = logging.Logger.manager
    named = [
        (name, logger.level)
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET
    ]
    return (("", logging.getLogger().level), *named)


class EngineProcess:
    """The engine in a child process, with the surface of :class:`EngineThread`.

    ``start()`` returns at once; a link thread starts the child, relays what it sends and
    starts a new one after a crash. ``stop()`` lets the child finish its transaction.
    """

    def __init__(
        self,
        config: EngineConfig,
        database_url: str,
        *,
        restart_cap: float = RESTART_CAP,
    ) -> None:
        self._config = config
        self._database_url = database_url
        self._restart_cap = restart_cap
        self._bus = EventBus()
        self.error: BaseException | None = None
        self.restarts = 0
        self.exitcode: int | None = None
        """The last child's exit code (0 after a clean stop)."""
        self._stopped_cleanly = True  # also when stopped with no child running (or never started)
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._child: BaseProcess | None = None
        self._conn: Connection | None = None
        self._status = EngineStatus()
        self._counted = Counters()  # what children before the current one counted
        self._thread = threading.Thread(
            target=self._supervise, name="outagedesk-engine-link", daemon=True
        )

    # -- the surface the window uses ------------------------------------------------------------
    @property
    def bus(self) -> EventBus:
        return self._bus

    @property
    def config(self) -> EngineConfig:
        return self._config

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def pid(self) -> int | None:
        """The current child's process id; None between children."""
        # Not is_alive(): waiting on the child from two threads could reap it twice.
        child = self._child
        return child.pid if child is not None else None

    def start(self) -> None:
        self._thread.start()

    def status(self) -> EngineStatus:
        with self._lock:
            status = self._status.copy()
            status.counters = _add_counters(self._counted, status.counters)
        return status

    def wake_forwarder(self) -> None:
        self._send("wake")

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the child and wait; False if it had to be terminated after ``timeout``."""
        with self._lock:
            self._stopping.set()
        self._send("stop")
        if self._thread.ident is None:
            return True  # never started
        self._thread.join(timeout)
        if not self._thread.is_alive():
            return self._stopped_cleanly
        with self._lock:
            child = self._child
        # Only the link thread waits on the child (two waiters could reap it twice).
        for end in (BaseProcess.terminate, BaseProcess.kill):
            if child is None or not self._thread.is_alive():
                break
            log.error("the engine process did not stop within %.0f s: %s", timeout, end.__name__)
            end(child)
            self._thread.join(KILL_WAIT)
        return False

    # -- the link thread -------------------------------------------------------------------------
    def _send(self, command: str) -> None:
        with self._lock:
            conn = self._conn
            if conn is None:
                return  # between children: the next one looks at the outbox when it starts
            with contextlib.suppress(OSError, ValueError):
                conn.send(command)

    def _spawn(self) -> tuple[BaseProcess, Connection] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            ours, theirs = self._context.Pipe()
            child = self._context.Process(
                target=child_main, args=(theirs,), name="outagedesk-engine", daemon=True
            )
            child.start()
            theirs.close()  # only the child holds it now: its death reads as end of file here
            ours.send(
                ChildSetup(self._config, self._database_url, _current_log_levels(), os.getpid())
            )
            self._child, self._conn = child, ours
        log.info("engine process started (pid %s)", child.pid)
        return child, ours

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                spawned = self._spawn()
            except Exception as exc:  # a failed start is retried like a crash
                log.exception("could not start the engine process")
                self.error = exc
            else:
                if spawned is None:
                    return  # asked to stop before it started
                child, conn = spawned
                self._relay(child, conn)
                with self._lock:
                    self._child, self._conn = None, None
                    self._counted = _add_counters(self._counted, self._status.counters)
                    self._status.counters = Counters()
                conn.close()
                self.exitcode = child.exitcode
                if self._stopping.is_set():
                    log.info("engine process stopped (exit code %s)", child.exitcode)
                    self._stopped_cleanly = child.exitcode == 0
                    return
                self.error = EngineExited(f"the engine process ended (exit code {child.exitcode})")
            if time.monotonic() - started > HEALTHY_AFTER:
                failures = 0
            failures += 1
            delay = backoff_delay(failures, base=0.5, cap=self._restart_cap)
            self._show_down(f"{self.error}; restarting it in {delay:.0f} s")
            log.error("%s; restarting it in %.1f s", self.error, delay)
            if self._stopping.wait(delay):
                return
            self.restarts += 1

    def _relay(self, child: BaseProcess, conn: Connection) -> None:
        """Pass on what the child sends until it exits."""
        while True:
            ready = wait([conn, child.sentinel])
            if conn not in ready:
                break  # exited, and nothing left unread
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            except Exception:
                log.exception("unreadable message from the engine process")
                break
            self._dispatch(message)
        child.join(KILL_WAIT)
        if child.is_alive():  # closed its pipe but hangs on the way out
            child.kill()
            child.join(KILL_WAIT)

    def _dispatch(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "event":
            if message[2] is not None:
                self._take_status(message[2])
            self._bus.publish(message[1])
        elif kind == "status":
            self._take_status(message[1])
        elif kind == "log":
            record: logging.LogRecord = message[1]
            logging.getLogger(record.name).handle(record)

    def _take_status(self, status: EngineStatus) -> None:
        with self._lock:
            # A new child has not reached the gateway yet: the last good contact still stands.
            for mine, theirs in (
                (self._status.gateway, status.gateway),
                (self._status.oms, status.oms),
            ):
                if theirs.last_ok is None:
                    theirs.last_ok = mine.last_ok
            self._status = status

    def _show_down(self, detail: str) -> None:
        """Both links offline while no engine runs: no text is fetched, no report sent."""
        with self._lock:
            status = self._status.copy()
            status.gateway = LinkStatus(LinkState.OFFLINE, detail, status.gateway.last_ok)
            status.oms = LinkStatus(LinkState.OFFLINE, detail, status.oms.last_ok)
            status.engine_down = detail
            self._status = status
        for name, link in (("gateway", status.gateway), ("oms", status.oms)):
            self._bus.publish(ConnectionChanged(name, link.state, link.detail, link.last_ok))
