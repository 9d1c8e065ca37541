"""Feed benchmark (run by hand): a big database, a flood of texts, a GUI thread that must not stall.

    .venv/bin/python bench/feed.py                    # 200,000 reports, 1,000 texts/s for 30 s
    .venv/bin/python bench/feed.py --reports 50000 --seconds 10

What it measures, with the real window, the real engine (in a child process, as the window runs
it; ``--engine-thread`` puts it on a thread of the window's process instead) and the simulator:

* the time to build the database (bulk Core inserts) and to open the window and show the feed;
* how long the first page of a filter and of a search over every report takes;
* the longest GUI-thread stall while ``--rate`` texts per second arrive for ``--seconds``: a
  1 ms precise QTimer records when it fires; every gap beyond 1 ms is the GUI thread being busy
  (or waiting for the GIL). Targets: max ≤ 50 ms, p99 ≤ 16 ms;
* the window process's resident memory (target ≤ 300 MB), and the engine process's.

The simulator runs in a child process, as a real gateway and OMS would: what is measured is the
console (window + engine), not the fake servers. Qt uses the offscreen platform unless DISPLAY is
set. Figures are printed; nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

KINDS_WITHOUT_REPORT = (("STATUS", "status"), ("HELP", "help"), ("STOP", "opt_out"))
BODIES = (
    "OUT", "OUTAGE", "OUT tree on line", "OUT power flickering", "OUT lights dim",
    "OUTAGE wire down on Elm", "OUT half the house is dark", "#OUT", "Out - pole damage",
)  # fmt: skip


def rss_mb(pid: int | None = None) -> tuple[float, float]:
    """(current, peak) resident set size of this process (or of ``pid``) in MB."""
    now = peak = 0.0
    with open(f"/proc/{pid or 'self'}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return now, peak


# -- the simulator in a child process ------------------------------------------------------------


def sim_child(conn: Connection, seed: int, directory_size: int) -> None:
    from outagedesk.sim import Simulator

    # The gateway and the OMS stand in for other machines: on a small test box they must not
    # take the CPU the console needs (what is measured is the console, not the fakes).
    os.nice(10)

    sim = Simulator(seed=seed, directory_size=directory_size)
    sim.start()
    conn.send(
        {
            "gateway_url": sim.gateway_url,
            "gateway_token": sim.gateway_token,
            "oms_url": sim.oms_url,
            "oms_token": sim.oms_token,
            "directory": sim.directory,
        }
    )
    try:
        while True:
            command, arg = conn.recv()
            if command == "start":
                sim.traffic.start(sim.gateway, float(arg))
                conn.send("started")
            elif command == "stop":
                sim.traffic.stop()
                conn.send(sim.traffic.sent)
            elif command == "quit":
                break
    finally:
        sim.stop()


# -- a big database --------------------------------------------------------------------------------


def fill(engine: Any, reports: int, seed: int) -> tuple[int, int]:
    """``reports`` outage texts with their reports, plus some texts without one."""
    from sqlalchemy import insert

    from outagedesk.store.models import InboundMessage, Report

    rng = random.Random(seed)
    areas = ("505", "575", "303", "720", "208")
    phones = [f"+1{rng.choice(areas)}{rng.randrange(2000000, 9999999)}" for _ in range(50_000)]
    start = datetime.now(UTC) - timedelta(hours=48)
    step = timedelta(hours=48) / max(reports, 1)
    others = reports // 20
    total = reports + others
    chunk = 20_000
    message_id = report_id = 0
    with engine.begin() as conn:
        for base in range(0, total, chunk):
            messages: list[dict[str, Any]] = []
            rows: list[dict[str, Any]] = []
            for i in range(base, min(base + chunk, total)):
                message_id += 1
                at = start + step * (i * reports / total)
                phone = phones[rng.randrange(len(phones))]
                is_report = rng.random() < reports / total and report_id < reports
                if is_report:
                    body, kind = rng.choice(BODIES), "outage"
                else:
                    body, kind = rng.choice(KINDS_WITHOUT_REPORT)
                messages.append(
                    {
                        "id": message_id,
                        "gateway_message_id": f"bench-{message_id}",
                        "phone": phone,
                        "to": "85700",
                        "body": body,
                        "received_at": at,
                        "stored_at": at,
                        "kind": kind,
                        "keyword": body.split()[0].upper(),
                        "remarks": "",
                        "revocation_suspected": False,
                        "tags": [],
                        "raw": {"id": f"bench-{message_id}", "from": phone, "body": body},
                    }
                )
                if is_report:
                    report_id += 1
                    r = rng.random()
                    state = (
                        "forwarded" if r < 0.86 else
                        "unlinked" if r < 0.94 else
                        "rejected" if r < 0.97 else "queued"
                    )  # fmt: skip
                    linked = state == "forwarded" and rng.random() < 0.9
                    rows.append(
                        {
                            "id": report_id,
                            "report_id": f"r-bench-{report_id}",
                            "message_id": message_id,
                            "phone": phone,
                            "received_at": at,
                            "remarks": "",
                            "revision": 1,
                            "state": state,
                            "account_number": str(100000 + rng.randrange(40_000))
                            if linked
                            else None,
                            "service_location_id": None,
                            "meter_id": None,
                            "resolved_level": "Address" if linked else "Unresolved",
                            "priority": "Normal",
                            "ticket_id": f"T-{500000 + report_id}"
                            if state == "forwarded"
                            else None,
                            "oms_status": "created" if state == "forwarded" else None,
                            "oms_message": "number not found" if state == "unlinked" else None,
                            "updated_at": at,
                        }
                    )
            conn.execute(insert(InboundMessage), messages)
            if rows:
                conn.execute(insert(Report), rows)
    return message_id, report_id


# -- the run ---------------------------------------------------------------------------------------


class StallWatchdog:
    """Samples the GUI thread's Python stack whenever the heartbeat is late by > 30 ms."""

    def __init__(self, ticks: list[float]) -> None:
        import collections
        import threading

        self.ticks = ticks
        self.main = threading.main_thread().ident
        self.samples: collections.Counter[str] = collections.Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import threading
        import traceback

        while not self._stop.wait(0.005):
            if not self.ticks or time.perf_counter() - self.ticks[-1] < 0.03:
                continue
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == threading.get_ident():
                    continue
                stack = traceback.extract_stack(frame)[-4:]
                where = " <- ".join(
                    f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack[::-1]
                )
                self.samples[f"[{names.get(ident, ident)}] {where}"] += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> None:
        print("GUI thread stacks during stalls (5 ms samples):")
        for key, count in self.samples.most_common(25):
            print(f"  {count:5d}  {key}")


def profile_slots(window: Any, spans: list[tuple[float, float, str]]) -> dict[str, list[float]]:
    """Time the window's own work on the GUI thread (model inserts, status, counts); each call
    is also appended to ``spans`` as (start, end, name)."""
    times: dict[str, list[float]] = {}
    targets = [
        (window.model, "insert_at_top"),
        (window.model, "apply_changes"),
        (window.model, "_trim"),
        (window, "_refresh_status"),
        (window, "_on_counts"),
        (window, "_on_details"),
        (window, "_on_messages_stored"),
        (window, "_on_reports_changed"),
    ]
    for obj, name in targets:
        original = getattr(obj, name)
        spent = times.setdefault(name, [])

        def timed(
            *a: Any, _original: Any = original, _spent: list[float] = spent, _name: str = name
        ) -> Any:
            t0 = time.perf_counter()
            try:
                return _original(*a)
            finally:
                t1 = time.perf_counter()
                _spent.append((t1 - t0) * 1000)
                spans.append((t0, t1, _name))

        setattr(obj, name, timed)
    return times


def time_paints(view: Any, spans: list[tuple[float, float, str]], paint_cpu: list[float]) -> Any:
    """Time every paint of the feed's viewport: an event filter paints it itself (through the
    view's ``viewportEvent``) and records (start, end, "paint") in ``spans`` and the GUI
    thread's CPU milliseconds in ``paint_cpu``. Returns the filter (keep it)."""
    from PySide6.QtCore import QEvent, QObject

    class PaintTimer(QObject):
        def eventFilter(self, obj: Any, event: Any) -> bool:
            if event.type() != QEvent.Type.Paint:
                return False
            t0, cpu0 = time.perf_counter(), time.thread_time()
            view.viewportEvent(event)
            spans.append((t0, time.perf_counter(), "paint"))
            paint_cpu.append((time.thread_time() - cpu0) * 1000)
            return True

    timer = PaintTimer()
    view.viewport().installEventFilter(timer)
    return timer


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_wait_ms() -> float:
    """How long the calling thread has waited, runnable, for a CPU (Linux schedstat)."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return float("nan")


def cpu_pressure() -> str:
    """Linux PSI: how often runnable tasks waited for a CPU (other load on the machine)."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            return f.readline().strip()
    except OSError:
        return "n/a"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="texts per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--switch-interval", type=float, default=None, help="sys.setswitchinterval override"
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="sample the GUI thread's stack during stalls, time the feed's paints and tell "
        "what each long stall held",
    )
    parser.add_argument("--baseline", type=float, default=10.0, help="idle seconds measured")
    parser.add_argument("--hide-view", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-live", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-freeze", action="store_true", help="skip gc.freeze() after start")
    parser.add_argument(
        "--engine-thread", action="store_true", help="run the engine on a thread of this process"
    )
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=sim_child, args=(child, args.seed, 2000), daemon=True)
    proc.start()
    info = parent.recv()

    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication
    from sqlalchemy import event

    from outagedesk.config import Settings
    from outagedesk.directory import import_directory_rows
    from outagedesk.engine.process import EngineProcess
    from outagedesk.runtime import engine_config, freeze_heap, open_database
    from outagedesk.store.feed import FeedFilter, FeedQuery
    from outagedesk.ui.app import tune_interpreter
    from outagedesk.ui.backend import Backend, engine_runner
    from outagedesk.ui.main_window import MainWindow

    tune_interpreter(freeze=False)
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)

    tmp = Path(tempfile.mkdtemp(prefix="outagedesk-bench-"))
    settings = Settings(
        data_dir=tmp,
        config_file=tmp / "settings.toml",
        gateway_url=info["gateway_url"],
        gateway_token=info["gateway_token"],
        oms_url=info["oms_url"],
        oms_token=info["oms_token"],
    )
    print(f"bench: database in {tmp}; {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} before the run")  # fmt: skip
    t = time.perf_counter()
    db = open_database(settings)
    import_directory_rows(db.engine, info["directory"], source="directory", actor="bench")
    messages, reports = fill(db.engine, args.reports, args.seed)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    print(f"database: {messages:,} messages, {reports:,} reports in "
          f"{time.perf_counter() - t:.1f} s")  # fmt: skip

    statements: list[float] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _count(*_a: Any) -> None:
        statements.append(time.perf_counter())

    app = QApplication.instance() or QApplication([sys.argv[0]])
    engine = engine_runner(engine_config(settings), db, in_process=not args.engine_thread)
    backend = Backend(settings, db, engine)
    print(
        f"engine: {'a thread of the window process' if args.engine_thread else 'a child process'}"
    )
    rss_before = rss_mb()[0]

    t_open = time.perf_counter()
    window = MainWindow(backend, state_file=tmp / "window-state.ini")
    window.resize(1500, 900)
    window.show()
    while window.model.rowCount() == 0:
        app.processEvents()
    app.processEvents()
    window.view.viewport().repaint()
    opened = time.perf_counter() - t_open
    if not args.no_freeze:
        freeze_heap()
    print(f"open window and show the feed: {opened * 1000:.0f} ms "
          f"({window.model.rowCount()} rows, {reports:,} reports in the database)")  # fmt: skip

    def first_page(query: FeedQuery) -> float:
        t0 = time.perf_counter()
        window.model.set_query(query)
        while window.model.busy:
            app.processEvents()
        return (time.perf_counter() - t0) * 1000

    for label, query in (
        ("filter Needs linking", FeedQuery(FeedFilter.NEEDS_LINKING)),
        ("filter Forwarded", FeedQuery(FeedFilter.FORWARDED)),
        ("search 'tree' (text, all rows)", FeedQuery(search="tree")),
        ("search a phone '505 2'", FeedQuery(search="505 2")),
        ("search a ticket 'T-5123'", FeedQuery(search="T-5123")),
        ("search with no match", FeedQuery(search="no such words")),
        ("back to All", FeedQuery()),
    ):
        print(f"first page, {label}: {first_page(query):.0f} ms")
    window.set_filter(FeedFilter.ALL)

    # -- the flood ------------------------------------------------------------------------------
    ticks: list[float] = []
    # With --diagnose, the GUI thread's scheduler counters at each tick (ns on a CPU, ns
    # runnable but waiting for one): they tell what a long gap was made of.
    sched: list[tuple[int, int]] = []
    schedstat = (
        os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        if args.diagnose
        else None
    )

    def beat() -> None:
        ticks.append(time.perf_counter())
        if schedstat is not None:
            on_cpu, waiting = os.pread(schedstat, 64, 0).split()[:2]
            sched.append((int(on_cpu), int(waiting)))

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(1)
    heartbeat.timeout.connect(beat)
    memory: list[float] = []
    engine_memory: list[float] = []

    def sample_memory() -> None:
        memory.append(rss_mb()[0])
        pid = engine.pid if isinstance(engine, EngineProcess) else None
        if pid is not None:
            engine_memory.append(rss_mb(pid)[0])

    sampler = QTimer()
    sampler.setInterval(1000)
    sampler.timeout.connect(sample_memory)

    gc_pauses: list[tuple[int, float]] = []
    gc_spans: list[tuple[float, float]] = []
    gc_started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            now = time.perf_counter()
            gc_pauses.append((info["generation"], (now - gc_started[0]) * 1000))
            gc_spans.append((gc_started[0], now))

    # The machine's own noise: the engine idles, nothing arrives, the heartbeat runs.
    backend.start()
    heartbeat.start()
    idle_loop = QEventLoop()
    QTimer.singleShot(int(args.baseline * 1000), idle_loop.quit)
    idle_loop.exec()
    heartbeat.stop()
    idle = [max(0.0, (b - a) * 1000 - 1.0) for a, b in itertools.pairwise(ticks)]
    print(f"baseline, nothing arriving ({args.baseline:g} s): stall max {max(idle):.1f} ms, "
          f"p99 {percentile(idle, 99):.1f} ms; CPU pressure: {cpu_pressure()}")  # fmt: skip
    ticks.clear()
    sched.clear()

    gc.callbacks.append(on_gc)
    spans: list[tuple[float, float, str]] = []
    slot_times = profile_slots(window, spans)
    paint_cpu: list[float] = []
    paint_timer = time_paints(window.view, spans, paint_cpu) if args.diagnose else None
    watchdog = StallWatchdog(ticks) if args.diagnose else None
    if args.no_live:
        window.bridge.close()  # the engine runs, the window does not follow it
    if args.hide_view:
        window.view.hide()  # the model follows, nothing is painted
    parent.send(("start", args.rate))
    parent.recv()
    heartbeat.start()
    sampler.start()
    queued_before = run_queue_wait_ms()
    assert proc.pid is not None  # started above
    pids = {"window": os.getpid(), "simulator": proc.pid}
    if isinstance(engine, EngineProcess) and engine.pid is not None:
        pids["engine"] = engine.pid
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    flood_start = time.perf_counter()
    flood_loop = QEventLoop()
    QTimer.singleShot(int(args.seconds * 1000), flood_loop.quit)
    flood_loop.exec()  # a real event loop, as in the application
    heartbeat.stop()
    sampler.stop()
    gc.callbacks.remove(on_gc)
    cpu_used = {name: cpu_seconds(pids[name]) - cpu_before[name] for name in cpu_before}
    flood_seconds = time.perf_counter() - flood_start
    if paint_timer is not None:
        window.view.viewport().removeEventFilter(paint_timer)
    if watchdog is not None:
        watchdog.stop()
        watchdog.report()
    parent.send(("stop", None))
    sent = parent.recv()
    flood = time.perf_counter() - flood_start

    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(ticks)]
    stalls = [max(0.0, g - 1.0) for g in gaps]
    status = engine.status()
    print(f"flood: {sent:,} texts sent in {flood:.1f} s ({sent / flood:.0f}/s); engine stored "
          f"{status.counters.received:,}, forwarded {status.counters.tickets:,}, "
          f"outbox backlog {status.backlog:,}")  # fmt: skip
    print(f"CPU pressure after the flood: {cpu_pressure()}; the GUI thread waited "
          f"{run_queue_wait_ms() - queued_before:.0f} ms for a CPU during the flood")  # fmt: skip
    print(f"GUI heartbeat: {len(ticks):,} ticks; stall max {max(stalls):.1f} ms, "
          f"p99 {percentile(stalls, 99):.1f} ms, p99.9 {percentile(stalls, 99.9):.1f} ms, "
          f"median {statistics.median(stalls):.2f} ms; "
          f"gaps > 16 ms: {sum(1 for s in stalls if s > 16)}, > 50 ms: "
          f"{sum(1 for s in stalls if s > 50)}")  # fmt: skip
    if args.diagnose:
        long_stalls = [(a, b) for a, b in itertools.pairwise(ticks) if b - a > 0.05]
        with_gc = sum(
            1 for a, b in long_stalls if any(s < b and e > a and e - s > 0.005 for s, e in gc_spans)
        )
        print(f"stalls > 50 ms overlapping a garbage collection > 5 ms: {with_gc} of "
              f"{len(long_stalls)}")  # fmt: skip
        long_gaps = [i for i in range(len(sched) - 1) if ticks[i + 1] - ticks[i] > 0.05]
        total = sum(ticks[i + 1] - ticks[i] for i in long_gaps) * 1000
        ran = sum(sched[i + 1][0] - sched[i][0] for i in long_gaps) / 1e6
        queued = sum(sched[i + 1][1] - sched[i][1] for i in long_gaps) / 1e6
        slept = total - ran - queued
        print(f"stalls > 50 ms: {total:.0f} ms in all; the GUI thread ran {ran:.0f} ms, waited "
              f"for a CPU {queued:.0f} ms, slept (GIL, I/O) {slept:.0f} ms")  # fmt: skip
        for i in sorted(long_gaps, key=lambda i: ticks[i] - ticks[i + 1])[:8]:
            inside = [
                f"{name} {(e - s) * 1000:.1f}"
                for s, e, name in sorted(spans)
                if s < ticks[i + 1] and e > ticks[i]
            ]
            print(f"  {(ticks[i + 1] - ticks[i]) * 1000:6.1f} ms: ran "
                  f"{(sched[i + 1][0] - sched[i][0]) / 1e6:5.1f}, waited for a CPU "
                  f"{(sched[i + 1][1] - sched[i][1]) / 1e6:5.1f}; "
                  f"inside: {', '.join(inside) or 'none of the timed work'}")  # fmt: skip
        paints = [(e - s) * 1000 for s, e, name in spans if name == "paint"]
        if paints:
            on_cpu = statistics.median(paint_cpu), max(paint_cpu)
            print(f"feed paints: {len(paints)}, median {statistics.median(paints):.1f} ms, "
                  f"max {max(paints):.1f} ms, total {sum(paints):.0f} ms; on a CPU: median "
                  f"{on_cpu[0]:.1f} ms, max {on_cpu[1]:.1f} ms")  # fmt: skip
    print("CPU used during the flood: " + ", ".join(
        f"{name} {used:.1f} s ({used / flood_seconds:.0%} of a core)"
        for name, used in cpu_used.items()))  # fmt: skip
    worst_gc = max(gc_pauses, key=lambda g: g[1], default=(0, 0.0))
    print(f"garbage collections: {len(gc_pauses):,}, longest {worst_gc[1]:.1f} ms "
          f"(generation {worst_gc[0]})")  # fmt: skip
    for name, spent in sorted(slot_times.items()):
        if not spent:
            continue
        print(f"  GUI slot {name}: {len(spent)} calls, max {max(spent):.1f} ms, "
              f"total {sum(spent):.0f} ms")  # fmt: skip
    rows = window.model.rowCount()
    print(f"feed rows held by the model: {rows:,} (cap {window.model.max_rows:,})")
    now, peak = rss_mb()
    print(f"memory: RSS {now:.0f} MB now, {max(memory or [now]):.0f} MB max during the flood, "
          f"{peak:.0f} MB peak; {rss_before:.0f} MB before the window")  # fmt: skip
    if engine_memory:
        print(f"engine process memory: RSS {engine_memory[-1]:.0f} MB at the end, "
              f"{max(engine_memory):.0f} MB max during the flood")  # fmt: skip
    print(f"load average after the flood: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    t_quit = time.perf_counter()
    window.close()
    while not window.stopped:
        app.processEvents()
        time.sleep(0.001)
    print(f"quit (engine finishes its transaction): {(time.perf_counter() - t_quit) * 1000:.0f} ms")
    parent.send(("quit", None))
    proc.join(10)
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    ok = max(stalls) <= 50 and percentile(stalls, 99) <= 16 and max(memory or [now]) <= 300
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
