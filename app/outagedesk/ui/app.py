"""``outagedesk`` / ``--demo`` / ``--training``: the QApplication, the qasync loop, the window.

Start-up is a coroutine on the qasync loop: the first-run dialog and the scenario chooser are
awaited (``open()`` and their ``finished`` signal, never ``exec()``), blocking work (migrations,
starting the simulator, checking a password) runs on a worker thread, someone signs in (the
demo and training sign in by themselves), then the window is shown and the coroutine waits for
it to close. Any exception that escapes a slot, a thread or a task is logged and shown in a
dialog.

Training settings are loaded without the keyring and without the token variables: production
credentials never reach a training process, whatever the machine has stored.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMessageBox

from outagedesk.config import Settings, SettingsError
from outagedesk.logs import setup_logging
from outagedesk.ops.base import Actor
from outagedesk.runtime import engine_config, freeze_heap
from outagedesk.training.environment import TrainingError, load_training_settings
from outagedesk.training.scenario import ScenarioError, shipped_scenarios
from outagedesk.ui import theme
from outagedesk.ui.backend import Backend, open_backend, start_demo, start_training
from outagedesk.ui.dialogs import SettingsDialog, dialog_result, keyring_problem, save_first_run
from outagedesk.ui.main_window import MainWindow
from outagedesk.ui.sign_in import demo_actor, sign_in_at_start, trainee_actor
from outagedesk.ui.training_chooser import ScenarioChooser, scenario_summaries

log = logging.getLogger(__name__)

STATE_FILE = "window-state.ini"
TRAINING_STATE_FILE = "training-window-state.ini"
TRAINING_LOG_DIR = "training-logs"
# Each refused scenario file sends the trainer back to the chooser; a cap keeps that bounded.
MAX_SCENARIO_CHOICES = 20


SWITCH_INTERVAL = 0.001


def tune_interpreter(switch_interval: float = SWITCH_INTERVAL, *, freeze: bool = True) -> None:
    """The window's database workers (and the engine, when it runs on a thread) share the
    interpreter with the GUI thread: hand the GIL back to it sooner than CPython's default
    5 ms, so they cannot stall painting."""
    sys.setswitchinterval(switch_interval)
    if freeze:
        freeze_heap()


class CrashReporter(QObject):
    """Turns uncaught exceptions into a log entry and a dialog, from any thread."""

    _report = Signal(str, str)

    def __init__(self, log_path: Path | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.log_path = log_path
        self.reported: list[str] = []
        self._box: QMessageBox | None = None
        self._more = 0
        self._report.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def excepthook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        log.critical("unhandled exception\n%s", text)
        self.reported.append(text)
        self._report.emit(f"{exc_type.__name__}: {exc}", text)

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        exc = args.exc_value if args.exc_value is not None else args.exc_type()
        self.excepthook(args.exc_type, exc, args.exc_traceback)

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            self.excepthook(type(exc), exc, exc.__traceback__)
        else:
            log.error("asyncio: %s", context.get("message", context))

    def _show(self, summary: str, text: str) -> None:
        if self._box is not None and self._box.isVisible():
            self._more += 1
            self._box.setInformativeText(
                f"{summary}\n\n(and {self._more} more error(s); see the log)"
            )
            return
        self._more = 0
        box = QMessageBox(QMessageBox.Icon.Critical, "OutageDesk: unexpected error", summary)
        box.setObjectName("crashDialog")
        where = f"The details are in {self.log_path}." if self.log_path else ""
        box.setInformativeText(
            f"OutageDesk hit an error it did not expect and kept running. {where} "
            "Please send the log to support."
        )
        box.setDetailedText(text)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.open()
        self._box = box


class _Session:
    """What the start-up coroutine and the signal handlers share."""

    def __init__(self) -> None:
        self.window: MainWindow | None = None
        self.sign_in: QDialog | None = None
        self.quit_requested = False

    def request_quit(self) -> None:
        self.quit_requested = True
        if self.window is not None:
            self.window.close()
        elif self.sign_in is not None:
            self.sign_in.reject()

    def signing_in(self, dialog: QDialog) -> None:
        self.sign_in = dialog
        if self.quit_requested:
            dialog.reject()


def _install_signals(session: _Session) -> Callable[[], None]:
    """Ctrl+C / SIGTERM close the window cleanly; returns a function that undoes it."""
    previous = {}

    def handler(_signum: int, _frame: FrameType | None) -> None:
        QTimer.singleShot(0, session.request_quit)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or not supported
            continue

    def undo() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return undo


def _splash(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("startupSplash")
    label.setWindowFlag(Qt.WindowType.SplashScreen)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMargin(24)
    label.setStyleSheet("font-size: 14pt; background: #1d4ed8; color: white;")
    label.show()
    return label


async def _message(icon: QMessageBox.Icon, title: str, text: str) -> None:
    box = QMessageBox(icon, title, text)
    box.setObjectName("startupMessage")
    await dialog_result(box)
    box.deleteLater()


async def _ensure_configured(settings: Settings, pool: ThreadPoolExecutor) -> Settings | None:
    """The settings as given, or completed by the first-run dialog; None when cancelled."""
    try:
        engine_config(settings)
        return settings
    except SettingsError as exc:
        log.info("first run: %s", exc)
    loop = asyncio.get_running_loop()
    dialog = SettingsDialog(settings)
    check = loop.run_in_executor(pool, keyring_problem)
    check.add_done_callback(
        lambda f: dialog.set_keyring_problem(
            f.result() if not f.exception() else str(f.exception())
        )
    )
    code = await dialog_result(dialog)
    if code != QDialog.DialogCode.Accepted:
        dialog.deleteLater()
        return None
    chosen = dialog.result_settings()
    dialog.deleteLater()
    try:
        warnings = await loop.run_in_executor(pool, save_first_run, chosen)
    except OSError as exc:
        warnings = [f"could not save the settings file: {exc}"]
    if warnings:
        await _message(
            QMessageBox.Icon.Warning,
            "OutageDesk settings",
            "Connected, but: " + "; ".join(warnings) + ". The tokens are used for this session.",
        )
    return chosen


def resolve_scenario(name: str) -> Path:
    """``--scenario``: a shipped scenario's name (its file name without .toml) or a file."""
    path = Path(name).expanduser()
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise TrainingError(f"--scenario: no scenario file {path}")
        return path
    shipped = {p.stem: p for p in shipped_scenarios()}
    if name in shipped:
        return shipped[name]
    raise TrainingError(
        f"--scenario: no shipped scenario {name!r} (choose from {', '.join(sorted(shipped))}, "
        "or give a .toml file)"
    )


async def _open_training(
    settings: Settings, scenario: Path | None, pool: ThreadPoolExecutor
) -> Backend | int:
    """The training backend, or an exit code: 0 when the trainer cancelled, 2 on an error."""
    loop = asyncio.get_running_loop()
    for _ in range(MAX_SCENARIO_CHOICES):
        path = scenario
        if path is None:
            summaries = await loop.run_in_executor(pool, scenario_summaries)
            chooser = ScenarioChooser(summaries)
            code = await dialog_result(chooser)
            path = chooser.chosen if code == QDialog.DialogCode.Accepted else None
            chooser.deleteLater()
            if path is None:
                return 0
        splash = _splash("Starting training mode…")
        try:
            return await loop.run_in_executor(pool, start_training, settings, path)
        except ScenarioError as exc:
            problem = str(exc)
        except SettingsError as exc:
            await _message(QMessageBox.Icon.Critical, "Training cannot start", str(exc))
            return 2
        finally:
            splash.close()
            splash.deleteLater()
        await _message(QMessageBox.Icon.Warning, "This scenario cannot be used", problem)
        if scenario is not None:
            return 2
    return 2


async def _main(
    settings: Settings,
    demo: bool,
    session: _Session,
    *,
    training: bool = False,
    scenario: Path | None = None,
) -> int:
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(1, thread_name_prefix="outagedesk-start")
    state_file = STATE_FILE
    try:
        backend: Backend
        if training:
            opened = await _open_training(settings, scenario, pool)
            if isinstance(opened, int):
                return opened
            backend = opened
            state_file = TRAINING_STATE_FILE
        elif demo:
            splash = _splash("Starting the OutageDesk demo…")
            try:
                backend = await loop.run_in_executor(pool, start_demo, settings)
            finally:
                splash.close()
                splash.deleteLater()
        else:
            configured = await _ensure_configured(settings, pool)
            if configured is None:
                return 0
            settings = configured
            # An upgrade of a big database (backup, migrations) can take a minute: say so.
            splash = _splash("Opening the database (an upgrade may take a minute)…")
            try:
                backend = await loop.run_in_executor(pool, open_backend, settings)
            except SettingsError as exc:
                splash.close()
                await _message(QMessageBox.Icon.Critical, "OutageDesk cannot start", str(exc))
                return 2
            finally:
                splash.close()
                splash.deleteLater()
        # The engine works while the desk waits for someone to sign in: texts keep flowing.
        backend.start()
        actor: Actor | None
        try:
            desk = backend.settings.desk
            if training:
                actor = await loop.run_in_executor(pool, trainee_actor, backend.db, desk)
            elif demo:
                actor = await loop.run_in_executor(pool, demo_actor, backend.db, desk)
            else:
                log.info("waiting for someone to sign in")
                try:
                    actor = await sign_in_at_start(backend.db, desk, pool, session.signing_in)
                finally:
                    session.sign_in = None
        except BaseException:
            await loop.run_in_executor(None, backend.stop)
            raise
        if actor is None:
            log.info("nobody signed in")
            await loop.run_in_executor(None, backend.stop)
            return 0
        log.info("signed in as %s (%s)", actor.name, actor.role.value)
    finally:
        pool.shutdown(wait=False)

    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        window = MainWindow(backend, state_file=settings.data_dir / state_file, actor=actor)
    except BaseException:
        # No window to close: stop what was started (off the GUI thread) and give up.
        await loop.run_in_executor(None, backend.stop)
        raise
    session.window = window
    closed: asyncio.Future[None] = loop.create_future()

    def finished() -> None:
        if not closed.done():
            closed.set_result(None)

    window.shutdownFinished.connect(finished)
    window.show()
    log.info(
        "window open%s",
        " (training)" if backend.training is not None else " (demo)" if backend.demo else "",
    )
    # Once now, once more when the engine has loaded what it loads lazily.
    freeze_heap()
    loop.call_later(15, freeze_heap)
    if session.quit_requested:
        window.close()
    await closed
    window.deleteLater()
    return 0


def run_training(args: argparse.Namespace) -> int:
    """``outagedesk --training [--scenario NAME|FILE]`` (the command line checked the flags)."""
    flags = {k: v for k, v in vars(args).items() if v is not None}
    settings = load_training_settings(flags)
    name = getattr(args, "training_scenario", None)
    scenario = resolve_scenario(name) if name else None
    return run_gui(settings, args, training=True, scenario=scenario)


def run_gui(
    settings: Settings,
    args: argparse.Namespace,
    *,
    training: bool = False,
    scenario: Path | None = None,
) -> int:
    demo = bool(getattr(args, "demo", False))
    # Training writes a log of its own: a production window may be running next to it.
    log_dir = settings.data_dir / TRAINING_LOG_DIR if training else settings.log_dir
    log_path = setup_logging(log_dir, settings.log_level)
    import qasync

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("OutageDesk")
    app.setOrganizationName("OutageDesk")
    app.setDesktopFileName("outagedesk")
    app.setWindowIcon(theme.icon("outagedesk"))
    app.setQuitOnLastWindowClosed(False)
    tune_interpreter(freeze=False)

    reporter = CrashReporter(log_path)
    session = _Session()
    old_hook, old_thread_hook = sys.excepthook, threading.excepthook
    sys.excepthook = reporter.excepthook
    threading.excepthook = reporter.thread_hook
    undo_signals = _install_signals(session)
    # Python only runs signal handlers when Python code runs: tick so Ctrl+C works.
    tick = QTimer(interval=200)
    tick.timeout.connect(lambda: None)
    tick.start()

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    loop.set_exception_handler(reporter.loop_handler)
    try:
        code = int(
            loop.run_until_complete(
                _main(settings, demo, session, training=training, scenario=scenario)
            )
        )
    except SettingsError:
        raise
    finally:
        tick.stop()
        undo_signals()
        sys.excepthook, threading.excepthook = old_hook, old_thread_hook
        asyncio.set_event_loop(None)
        loop.close()
    log.info("bye (exit code %d)", code)
    return code
