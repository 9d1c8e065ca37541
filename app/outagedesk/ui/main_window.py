"""The dispatcher's main window: live feed, filters, search, details, connection status."""

from __future__ import annotations

import logging
import threading
from functools import partial
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import (
    QByteArray,
    QItemSelectionModel,
    QModelIndex,
    QSettings,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QFont,
    QFontMetrics,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QButtonGroup,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from outagedesk import __version__
from outagedesk.engine.events import LinkState
from outagedesk.ops.base import Actor, Permission, PermissionDenied, Role
from outagedesk.ops.people import change_password, needs_role_text, sign_in
from outagedesk.store import feed
from outagedesk.store.feed import FeedCounts, FeedFilter, FeedQuery
from outagedesk.store.mappings import review_count
from outagedesk.ui import details as details_html
from outagedesk.ui import theme
from outagedesk.ui.backend import Backend
from outagedesk.ui.bridge import EngineBridge
from outagedesk.ui.consent_screen import ConsentScreen
from outagedesk.ui.dialogs import ShortcutsDialog
from outagedesk.ui.feed_model import (
    C_ACCOUNT,
    C_KIND,
    C_OMS,
    C_PHONE,
    C_REPEAT,
    C_STATE,
    C_TEXT,
    C_TIME,
    F_NEEDS_LINK,
    F_REVOCATION,
    R_REPORT,
    FeedModel,
    filter_label,
)
from outagedesk.ui.feed_view import FeedView
from outagedesk.ui.link_dialog import (
    Failure,
    LinkDialog,
    LinkResult,
    ReportRef,
    actor_for,
    do_resend,
    submit_write,
)
from outagedesk.ui.mappings_screen import MappingsScreen
from outagedesk.ui.notify import Notifier
from outagedesk.ui.number_panel import NumberPanel
from outagedesk.ui.sign_in import (
    DEMO_PASSWORD,
    DEMO_PERSON,
    ChangePasswordDialog,
    LockOverlay,
)
from outagedesk.ui.status import (
    ConnectionBanner,
    RateMeter,
    StatusIndicator,
    banner_problem,
    engine_down_problem,
)
from outagedesk.ui.training_mode import TRAINEE, TRAINING_TITLE, TrainingMode, launch_training
from outagedesk.ui.worker import DbWorker

log = logging.getLogger(__name__)

FILTERS = (
    FeedFilter.ALL,
    FeedFilter.NEEDS_LINKING,
    FeedFilter.FAILED,
    FeedFilter.FORWARDED,
    FeedFilter.OPT_OUT_HELP,
    FeedFilter.QUARANTINE,
)
COLUMN_WIDTHS = {
    C_TIME: 92,
    C_PHONE: 122,
    C_KIND: 84,
    C_REPEAT: 42,
    C_TEXT: 240,
    C_ACCOUNT: 200,
    C_STATE: 190,
    C_OMS: 200,
}
SEARCH_DELAY_MS = 200
REVIEW_COUNT_MS = 30_000
FONT_STEPS = (0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6, 1.8, 2.0)


class FilterButton(QToolButton):
    """A quick filter sized for its chosen look. The style sheets set the chosen filter's
    label in bold and its focus frame a pixel wider, but Qt sizes a button by its plain font
    whatever its state, so a long label was cut off at both ends once chosen."""

    def sizeHint(self) -> QSize:
        # QToolButton's minimumSizeHint() is this sizeHint(): one override covers both.
        size = super().sizeHint()
        bold = QFont(self.font())
        bold.setBold(True)
        label = self.text().replace("&&", "&")
        extra = QFontMetrics(bold).horizontalAdvance(label) - self.fontMetrics().horizontalAdvance(
            label
        )
        return QSize(size.width() + max(extra, 0) + 2, size.height())


class MainWindow(QMainWindow):
    shutdownFinished = Signal()
    _backendStopped = Signal(bool)

    def __init__(
        self,
        backend: Backend,
        *,
        state_file: Path,
        actor: Actor | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        # Who acts from this window: every operation checks this person's role. ui/app.py
        # always passes whoever signed in (training: the built-in trainee); the default (an
        # administrator named after the login, so that every screen can be driven) serves tests.
        if actor is None and backend.training is not None:
            actor = Actor(TRAINEE, backend.settings.desk, Role.TRAINER)
        self.actor: Actor = actor or actor_for(backend.settings.desk, Role.ADMIN)
        self.training: TrainingMode | None = None
        self.setObjectName("mainWindow")
        if backend.training is not None:
            self.setWindowTitle(TRAINING_TITLE)
        else:
            self.setWindowTitle("OutageDesk — demo" if backend.demo else "OutageDesk")
        self.setWindowIcon(theme.icon("outagedesk"))
        self.state = QSettings(str(state_file), QSettings.Format.IniFormat)
        self.stopping = False
        self.stopped = False
        self.errors: list[str] = []
        self.counts: FeedCounts | None = None
        self.theme_name = theme.LIGHT
        self.font_scale = 1.0
        self._base_font = QFont(QApplication.font())
        self._details_key: int | None = None
        self._stopper: threading.Thread | None = None
        self._rate = RateMeter()
        self.link_dialog: LinkDialog | None = None
        self.number_panel: NumberPanel | None = None
        self.consent_screen: ConsentScreen | None = None
        self.resend_box: QMessageBox | None = None

        self.worker = DbWorker(backend.db.engine, self)
        self.worker.failed.connect(self._show_error)
        # Supervisor screens run long jobs (a conflict scan over every link, a 100,000-row
        # upload, a full export): on their own thread, so the feed never waits behind them.
        self.supervisor_worker = DbWorker(backend.db.engine, self)
        self.supervisor_worker.failed.connect(self._show_error)
        engine = backend.engine
        self.bridge = EngineBridge(engine.bus if engine is not None else None, self)
        self.model = FeedModel(self.worker, self)

        self._status_timer = QTimer(self, interval=500)
        self._status_timer.timeout.connect(self._refresh_status)
        self._counts_timer = QTimer(self, singleShot=True, interval=300)
        self._counts_timer.timeout.connect(self._load_counts)
        self._counts_fallback = QTimer(self, interval=5000)
        self._counts_fallback.timeout.connect(self._load_counts)
        self._details_timer = QTimer(self, singleShot=True, interval=60)
        self._details_timer.timeout.connect(self._load_details)
        self._build_widgets()
        self.notifier = Notifier(self)
        self._build_actions()
        self._build_sign_in()
        self._connect()
        self.set_actor(self.actor)
        if backend.training is not None:
            self.training = TrainingMode(self, backend.training)

        self._restore_state()
        self._status_timer.start()
        self._counts_fallback.start()
        self._refresh_status()
        self._load_counts()

    # -- building ----------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        central = QWidget(self)
        central.setObjectName("central")
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        self.banner = ConnectionBanner(central)
        outer.addWidget(self.banner)

        top = QWidget(central)
        top.setObjectName("topBar")
        top_layout = QHBoxLayout(top)
        top_layout.setContentsMargins(8, 6, 8, 6)
        top_layout.setSpacing(8)

        self.badge = QPushButton("Needs linking: …", top)
        self.badge.setObjectName("needsLinkingBadge")
        self.badge.setIcon(theme.icon("unlinked"))
        self.badge.setAccessibleName("Needs linking: show only reports that need a link")
        self.badge.setToolTip("Reports whose number is not linked to an account (Alt+2)")
        self.badge.setProperty("alert", False)
        top_layout.addWidget(self.badge)

        self.filter_bar = QWidget(top)
        self.filter_bar.setObjectName("filterBar")
        self.filter_bar.setAccessibleName("Quick filters")
        bar_layout = QHBoxLayout(self.filter_bar)
        bar_layout.setContentsMargins(0, 0, 0, 0)
        bar_layout.setSpacing(4)
        self.filter_group = QButtonGroup(self)
        self.filter_group.setExclusive(True)
        self.filter_buttons: dict[FeedFilter, QToolButton] = {}
        for i, f in enumerate(FILTERS, start=1):
            button = FilterButton(self.filter_bar)
            button.setObjectName(f"filter_{f.value}")
            button.setCheckable(True)
            button.setText(filter_label(f))
            plain = filter_label(f).replace("&&", "&")
            button.setAccessibleName(f"Filter: {plain}")
            button.setToolTip(f"Show {plain.lower()} (Alt+{i})")
            button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            self.filter_group.addButton(button, i - 1)
            self.filter_buttons[f] = button
            bar_layout.addWidget(button)
        self.filter_buttons[FeedFilter.ALL].setChecked(True)
        top_layout.addWidget(self.filter_bar)
        top_layout.addStretch(1)

        self.search = QLineEdit(top)
        self.search.setObjectName("feedSearch")
        self.search.setAccessibleName("Search the feed")
        self.search.setAccessibleDescription("Phone, account, text or ticket ID")
        self.search.setPlaceholderText("Search phone, account, text, ticket…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(300)
        top_layout.addWidget(self.search)

        self.mute_button = QToolButton(top)
        self.mute_button.setObjectName("muteButton")
        self.mute_button.setCheckable(True)
        self.mute_button.setIcon(theme.icon("bell"))
        self.mute_button.setAccessibleName("Mute notification sound")
        self.mute_button.setToolTip("Mute the notification sound (Ctrl+M)")
        top_layout.addWidget(self.mute_button)
        outer.addWidget(top)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, central)
        self.splitter.setObjectName("mainSplitter")
        self.view = FeedView(self.splitter)
        self.view.setObjectName("feedView")
        self.view.setAccessibleName("Live feed of inbound texts, newest first")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # Extended: "Re-send selected…" works on several reports (Shift/Ctrl+click or arrows).
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setSortingEnabled(False)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vh = self.view.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        hh = self.view.horizontalHeader()
        hh.setObjectName("feedHeader")
        hh.setStretchLastSection(True)
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setHighlightSections(False)
        for col, width in COLUMN_WIDTHS.items():
            hh.resizeSection(col, width)

        self.details = QTextBrowser(self.splitter)
        self.details.setObjectName("detailsPane")
        self.details.setAccessibleName("Details of the selected text")
        self.details.setOpenLinks(False)
        self.details.setMinimumWidth(280)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([1000, 420])
        self.splitter.setChildrenCollapsible(False)
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        bar = self.statusBar()
        bar.setObjectName("statusBar")
        self.status_gateway = StatusIndicator("Gateway", "statusGateway", bar)
        self.status_oms = StatusIndicator("OMS", "statusOms", bar)
        self.status_backlog = QLabel("Outbox: 0 waiting", bar)
        self.status_backlog.setObjectName("statusBacklog")
        self.status_backlog.setAccessibleName("Outbox backlog")
        self.status_rate = QLabel("Reports: 0/min", bar)
        self.status_rate.setObjectName("statusRate")
        self.status_rate.setAccessibleName("Reports per minute")
        self.status_feed = QLabel("", bar)
        self.status_feed.setObjectName("statusFeed")
        self.status_feed.setAccessibleName("Rows shown")
        bar.addWidget(self.status_feed, 1)
        if self.backend.demo:
            demo = QLabel("DEMO · simulator", bar)
            demo.setObjectName("statusDemo")
            demo.setAccessibleName("Demo mode: simulated gateway and OMS")
            bar.addPermanentWidget(demo)
        bar.addPermanentWidget(self.status_rate)
        bar.addPermanentWidget(self.status_backlog)
        bar.addPermanentWidget(self.status_oms)
        bar.addPermanentWidget(self.status_gateway)

    def show_templates(self) -> None:
        """Edit the automatic replies (non-modal; saved to the settings file)."""
        from outagedesk.ui.templates_dialog import TemplatesDialog

        dialog = TemplatesDialog(self.backend.settings, self, actor=self.actor)
        dialog.saved.connect(self._audit_settings)
        dialog.open()
        self.templates_dialog = dialog

    def _audit_settings(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        from outagedesk.ops.settings import audit_settings_change

        actor = self.actor
        submit_write(
            self.worker,
            self.backend.db.sessions,
            lambda s: audit_settings_change(s, actor, before, after),
            lambda r: self._show_error(r.message) if isinstance(r, Failure) else None,
        )

    def _action(
        self,
        menu: Any,
        text: str,
        slot: Any,
        keys: tuple[str, ...] = (),
        *,
        name: str,
        checkable: bool = False,
        permission: Permission | None = None,
    ) -> QAction:
        """A menu command with its keys; with ``permission``, enabled only for the roles that
        have it (``set_actor``) — a courtesy, the operation refuses anyway."""
        action = QAction(text, self)
        action.setObjectName(name)
        if permission is not None:
            self._permission_actions.append((action, permission))
            menu.setToolTipsVisible(True)
        if keys:
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        self.all_actions.append(action)
        return action

    def _build_actions(self) -> None:
        self.all_actions: list[QAction] = []
        self._permission_actions: list[tuple[QAction, Permission]] = []
        menus = self.menuBar()
        menus.setAccessibleName("Menu bar")
        file_menu = menus.addMenu("&File")
        self._action(
            file_menu, "&Reply templates…", self.show_templates, name="actionTemplates",
            permission=Permission.MANAGE_SETTINGS,
        )  # fmt: skip
        file_menu.addSeparator()
        person_actions = (
            self._action(
                file_menu, "Loc&k desk", self.lock_desk, ("Ctrl+Alt+L",), name="actionLockDesk"
            ),
            self._action(
                file_menu, "S&witch user…", self.switch_user, ("Ctrl+Alt+U",),
                name="actionSwitchUser",
            ),
            self._action(
                file_menu, "Change my &password…", self.change_password,
                name="actionChangePassword",
            ),
        )  # fmt: skip
        if self.backend.training is not None:
            # Training has one built-in trainee and nobody to switch to.
            for action in person_actions:
                action.setVisible(False)
                action.setEnabled(False)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, ("Ctrl+Q",), name="actionQuit")

        view = menus.addMenu("&View")
        self.filter_actions: dict[FeedFilter, QAction] = {}
        for i, f in enumerate(FILTERS, start=1):
            self.filter_actions[f] = self._action(
                view,
                f"Show {filter_label(f)}",
                partial(self.set_filter, f),
                (f"Alt+{i}",),
                name=f"actionFilter_{f.value}",
            )
        view.addSeparator()
        self.details_action = self._action(
            view, "&Details pane", self._set_details_visible, ("Ctrl+D",),
            name="actionDetails", checkable=True,
        )  # fmt: skip
        self.details_action.setChecked(True)
        view.addSeparator()
        themes = QActionGroup(self)
        self.light_action = self._action(
            view, "&Light theme", partial(self._theme_toggled, theme.LIGHT), ("Ctrl+Shift+L",),
            name="actionLightTheme", checkable=True,
        )  # fmt: skip
        self.dark_action = self._action(
            view, "Dar&k theme (night)", partial(self._theme_toggled, theme.DARK),
            ("Ctrl+Shift+D",), name="actionDarkTheme", checkable=True,
        )  # fmt: skip
        themes.addAction(self.light_action)
        themes.addAction(self.dark_action)
        view.addSeparator()
        self._action(view, "&Larger text", self.zoom_in, ("Ctrl+=", "Ctrl++"), name="actionZoomIn")
        self._action(view, "&Smaller text", self.zoom_out, ("Ctrl+-",), name="actionZoomOut")
        self._action(view, "&Normal text size", self.zoom_reset, ("Ctrl+0",), name="actionZoom0")
        view.addSeparator()
        self.mute_action = self._action(
            view, "&Mute notification sound", self._set_muted, ("Ctrl+M",),
            name="actionMute", checkable=True,
        )  # fmt: skip

        go = menus.addMenu("&Go")
        self._action(
            go, "&Search the feed", self.focus_search, ("Ctrl+F", "/"), name="actionSearch"
        )
        self._action(
            go, "&Next report needing a link", self.next_unlinked, ("F8", "N"),
            name="actionNextUnlinked",
        )  # fmt: skip
        self._action(
            go, "&Previous report needing a link", self.previous_unlinked,
            ("Shift+F8", "Shift+N"), name="actionPreviousUnlinked",
        )  # fmt: skip
        self._action(go, "N&ewest text", self.go_newest, ("Ctrl+Home",), name="actionNewest")
        self._action(go, "&Feed", self.focus_feed, ("Ctrl+L", "F6"), name="actionFocusFeed")

        act = menus.addMenu("&Actions")
        self._action(
            act, "&Link number…", self.link_current, ("Ctrl+K",), name="actionLink",
            permission=Permission.LINK,
        )  # fmt: skip
        self._action(
            act, "&Re-send selected…", self.resend_selected, ("Ctrl+Shift+R",),
            name="actionResendSelected", permission=Permission.LINK,
        )  # fmt: skip
        self._action(
            act, "&Number…", lambda: self.show_number_panel(), ("Ctrl+N",), name="actionNumber"
        )
        self._action(
            act, "Check &opt-in / force opt-out…", lambda: self.show_consent_screen(),
            ("Ctrl+Shift+O",), name="actionConsent",
        )  # fmt: skip
        self.confirm_opt_out_action = self._action(
            act, "&Confirm as opt-out…", self.confirm_revocation, ("Ctrl+Shift+X",),
            name="actionConfirmOptOut",
        )  # fmt: skip
        self.confirm_opt_out_action.setEnabled(False)
        self.confirm_opt_out_action.setToolTip(
            "The selected text reads like a revocation: apply it as an opt-out"
        )

        supervise = menus.addMenu("&Supervisor")
        self._action(
            supervise, "&Mappings…", lambda: self.show_mappings(), ("Ctrl+Shift+M",),
            name="actionMappings",
        )  # fmt: skip
        self._action(
            supervise, "&Review queue…", lambda: self.show_mappings("review"),
            name="actionReviewQueue", permission=Permission.REVIEW_LINKS,
        )  # fmt: skip
        self._action(
            supervise, "&Conflicts…", lambda: self.show_mappings("conflicts"),
            name="actionConflicts",
        )  # fmt: skip
        self._action(
            supervise, "&Import link corrections…", self.import_link_corrections,
            name="actionImportLinkCorrections", permission=Permission.IMPORT_LINKS,
        )  # fmt: skip
        supervise.addSeparator()
        self._action(
            supervise, "&Audit trail…", lambda: self.show_audit_screen(), ("Ctrl+Shift+A",),
            name="actionAuditTrail", permission=Permission.VIEW_AUDIT,
        )  # fmt: skip
        self.mappings_screen: MappingsScreen | None = None
        self.supervisor_bar = QToolBar("Supervisor", self)
        self.supervisor_bar.setObjectName("supervisorToolbar")
        self.review_button = QToolButton(self.supervisor_bar)
        self.review_button.setObjectName("reviewCountButton")
        self.review_button.setText("Review: …")
        self.review_button.setAccessibleName("Links waiting for review: open the review queue")
        self.review_button.setToolTip("Dispatchers' links nobody has reviewed yet: open the queue")
        self.review_button.clicked.connect(lambda: self.show_mappings("review"))
        self.supervisor_bar.addWidget(self.review_button)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.supervisor_bar)
        self._review_timer = QTimer(self, interval=REVIEW_COUNT_MS)
        self._review_timer.timeout.connect(self._load_review_count)
        self._review_timer.start()
        QTimer.singleShot(0, self, self._load_review_count)

        self.training_menu = menus.addMenu("&Training")
        self.training_menu.setToolTipsVisible(True)
        if self.backend.training is None:
            self.start_training_action = self._action(
                self.training_menu, "Start &training mode…", self.start_training,
                ("Ctrl+Shift+T",), name="actionStartTraining",
            )  # fmt: skip
            self.training_menu.aboutToShow.connect(self.update_training_action)
            self.update_training_action()

        if self.backend.demo:
            demo = menus.addMenu("&Demo")
            self._action(
                demo, "&Gateway offline", self._demo_gateway_down, ("Ctrl+Alt+G",),
                name="actionDemoGatewayDown", checkable=True,
            )  # fmt: skip
            self._action(
                demo, "&OMS offline", self._demo_oms_down, ("Ctrl+Alt+O",),
                name="actionDemoOmsDown", checkable=True,
            )  # fmt: skip
            self._action(demo, "&Burst of 50 texts", self._demo_burst, ("Ctrl+Alt+B",),
                         name="actionDemoBurst")  # fmt: skip

        admin = menus.addMenu("A&dmin")
        self._action(
            admin, "&People…", self.show_people, ("Ctrl+Alt+P",), name="actionPeople",
            permission=Permission.MANAGE_PEOPLE,
        )  # fmt: skip

        help_menu = menus.addMenu("&Help")
        self._action(
            help_menu, "&Keyboard shortcuts", self.show_shortcuts, ("F1", "Ctrl+?"),
            name="actionShortcuts",
        )  # fmt: skip
        self._action(help_menu, "&About OutageDesk", self.show_about, name="actionAbout")

        esc = QShortcut(QKeySequence("Esc"), self.search)
        esc.setContext(Qt.ShortcutContext.WidgetShortcut)
        esc.activated.connect(self._clear_search)
        enter = QShortcut(QKeySequence("Return"), self.view)
        enter.setContext(Qt.ShortcutContext.WidgetShortcut)
        enter.activated.connect(self._show_details_of_current)

    def _connect(self) -> None:
        self.filter_group.idClicked.connect(lambda i: self.set_filter(FILTERS[i]))
        self.badge.clicked.connect(lambda: self.set_filter(FeedFilter.NEEDS_LINKING))
        self.mute_button.toggled.connect(self.mute_action.setChecked)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._apply_search)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.search.returnPressed.connect(self._apply_search)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self.model.headInserted.connect(self._keep_scroll_position)
        self.model.rowsUpdated.connect(self._rows_updated)
        self.model.loaded.connect(self._update_feed_label)
        self.model.rowsInserted.connect(self._update_feed_label)
        self.model.rowsRemoved.connect(self._update_feed_label)
        self.model.modelReset.connect(self._update_feed_label)
        queued = Qt.ConnectionType.QueuedConnection
        self.bridge.messagesStored.connect(self._on_messages_stored, queued)
        self.bridge.reportsChanged.connect(self._on_reports_changed, queued)
        self.bridge.connectionChanged.connect(self._on_connection_changed, queued)
        self._backendStopped.connect(self._on_backend_stopped, queued)
        self.status_gateway.clicked.connect(lambda: self._explain(self.status_gateway))
        self.status_oms.clicked.connect(lambda: self._explain(self.status_oms))
        self.view.doubleClicked.connect(self._row_activated)
        self.details.anchorClicked.connect(self._details_link)

    # -- who is signed in ----------------------------------------------------------------------
    def _build_sign_in(self) -> None:
        self.lock_overlay: LockOverlay | None = None
        self._feed_widget: QWidget | None = None
        self._enabled_before_lock: list[tuple[QAction, bool]] = []
        self.people_screen: QWidget | None = None
        self.password_dialog: ChangePasswordDialog | None = None
        self.status_person = QLabel("", self.statusBar())
        self.status_person.setObjectName("statusPerson")
        self.status_person.setToolTip("Lock the desk: Ctrl+Alt+L · switch user: Ctrl+Alt+U")
        self.statusBar().addPermanentWidget(self.status_person)

    def set_actor(self, actor: Actor) -> None:
        """Act as ``actor`` from now on: the status bar names them, and the commands their role
        may not use are disabled with a tooltip naming the roles that may."""
        self.actor = actor
        self.status_person.setText(f"{actor.name} · {actor.role.value}")
        self.status_person.setAccessibleName(f"Signed in as {actor.name}, {actor.role.value}")
        for action, permission in self._permission_actions:
            allowed = actor.may(permission)
            action.setEnabled(allowed and self.lock_overlay is None)
            action.setToolTip("" if allowed else needs_role_text(permission))
        if self.backend.training is None:
            self.update_training_action()
        self._load_review_count()

    def lock_desk(self) -> None:
        """Hide the feed behind a sign-in form; the engine and the counts keep running."""
        self._lock(switching=False)

    def switch_user(self) -> None:
        self._lock(switching=True)

    def _lock(self, *, switching: bool) -> None:
        if self.lock_overlay is not None or self.stopping or self.backend.training is not None:
            return
        self._close_screens()
        hint = (
            f"Demo: sign in as {DEMO_PERSON}, password {DEMO_PASSWORD}."
            if self.backend.demo
            else ""
        )
        overlay = LockOverlay(hint=hint)
        overlay.title.setText("Switch user" if switching else "Desk locked")
        self._enabled_before_lock = [(a, a.isEnabled()) for a in self.all_actions]
        for action in self.all_actions:
            action.setEnabled(False)
        self._feed_widget = self.takeCentralWidget()
        self.setCentralWidget(overlay)
        self.lock_overlay = overlay
        overlay.form.submitted.connect(self._unlock_attempt)
        overlay.form.start("" if switching else self.actor.name)
        self.status_person.setText(f"Locked · {self.actor.name}")
        self.status_person.setAccessibleName(f"Desk locked; {self.actor.name} was signed in")

    def _unlock_attempt(self, name: str, password: str) -> None:
        if self.lock_overlay is None:
            return
        self.lock_overlay.form.set_busy(True)
        desk = self.backend.settings.desk
        submit_write(
            self.worker,
            self.backend.db.sessions,
            lambda s: sign_in(s, name, password, desk),
            self._on_unlock,
        )

    def _on_unlock(self, result: Actor | Failure) -> None:
        overlay = self.lock_overlay
        if overlay is None or self.stopping:
            return
        if isinstance(result, Failure):
            overlay.form.show_error(result.message)
            return
        self.lock_overlay = None
        assert self._feed_widget is not None
        self.setCentralWidget(self._feed_widget)  # deletes the overlay
        self._feed_widget.show()  # taking it out of the window hid it
        self._feed_widget = None
        for action, enabled in self._enabled_before_lock:
            action.setEnabled(enabled)
        self._enabled_before_lock = []
        switched = result != self.actor
        self.set_actor(result)
        if switched:
            self.statusBar().showMessage(
                f"Signed in as {result.name} ({result.role.value}).", 10000
            )
        self.view.setFocus()

    def _close_screens(self) -> None:
        """Screens act as the person who opened them: close them when that person leaves."""
        for dialog in (
            self.link_dialog,
            self.number_panel,
            self.consent_screen,
            self.people_screen,
            self.password_dialog,
            getattr(self, "templates_dialog", None),
            self.mappings_screen,
            getattr(self, "audit_screen", None),
            self.resend_box,
        ):
            if dialog is not None and shiboken6.isValid(dialog):
                dialog.close()

    def change_password(self) -> None:
        actor = self.actor
        dialog = ChangePasswordDialog(actor.name, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def changed(result: Any) -> None:
            if not shiboken6.isValid(dialog):
                return
            if isinstance(result, Failure):
                dialog.show_error(result.message)
                return
            dialog.accept()
            self.statusBar().showMessage(f"Password of {actor.name} changed.", 10000)

        dialog.submitted.connect(
            lambda old, new: submit_write(
                self.worker,
                self.backend.db.sessions,
                lambda s: change_password(s, actor, old, new),
                changed,
            )
        )
        self.password_dialog = dialog
        dialog.open()

    def show_people(self) -> None:
        """Admin ▸ People: people and service tokens (the operations check the role)."""
        from outagedesk.ui.people_screen import PeopleScreen

        old = self.people_screen
        if old is not None and shiboken6.isValid(old) and old.isVisible():
            old.activateWindow()
            return
        screen = PeopleScreen(
            worker=self.worker, sessions=self.backend.db.sessions, actor=self.actor, parent=self
        )
        screen.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.people_screen = screen
        screen.show()
        screen.activateWindow()

    # -- persisted state ---------------------------------------------------------------------
    def _restore_state(self) -> None:
        s = self.state
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            # First run: a console lives full-screen on its monitor.
            self.setGeometry(self.screen().availableGeometry())
        window_state = s.value("window/state")
        if isinstance(window_state, QByteArray):
            self.restoreState(window_state)
        splitter = s.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)
        header = s.value("feed/header")
        if isinstance(header, QByteArray):
            self.view.horizontalHeader().restoreState(header)
        name = str(s.value("view/theme", theme.LIGHT))
        self.set_theme(name if name in theme.THEMES else theme.LIGHT)
        try:
            scale = float(str(s.value("view/fontScale", 1.0)))
        except ValueError:
            scale = 1.0
        # Widths restored above were saved at the saved scale: only the defaults need scaling.
        self.set_font_scale(scale, rescale_columns=not isinstance(header, QByteArray))
        muted = str(s.value("view/muted", "false")).lower() == "true"
        self.mute_action.setChecked(muted)
        self._set_muted(muted)
        details = str(s.value("view/details", "true")).lower() != "false"
        self.details_action.setChecked(details)
        self._set_details_visible(details)
        try:
            chosen = FeedFilter(str(s.value("feed/filter", FeedFilter.ALL.value)))
        except ValueError:
            chosen = FeedFilter.ALL
        self.set_filter(chosen)

    def save_state(self) -> None:
        s = self.state
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("feed/header", self.view.horizontalHeader().saveState())
        s.setValue("feed/filter", self.model.query.filter.value)
        s.setValue("view/theme", self.theme_name)
        s.setValue("view/fontScale", self.font_scale)
        s.setValue("view/muted", "true" if self.notifier.muted else "false")
        s.setValue("view/details", "true" if self.details_action.isChecked() else "false")
        s.sync()

    # -- filters and search ------------------------------------------------------------------
    @property
    def current_filter(self) -> FeedFilter:
        return self.model.query.filter

    def set_filter(self, f: FeedFilter) -> None:
        button = self.filter_buttons[f]
        if not button.isChecked():
            button.setChecked(True)
        query = FeedQuery(f, self.search.text().strip())
        if query != self.model.query or self.model.rowCount() == 0:
            self._set_query(query)

    def _apply_search(self) -> None:
        self._search_timer.stop()
        query = FeedQuery(self.model.query.filter, self.search.text().strip())
        if query != self.model.query:
            self._set_query(query)

    def _set_query(self, query: FeedQuery) -> None:
        self._details_key = None
        self.model.set_query(query)
        self.details.setHtml(details_html.render_empty(self.theme_name))

    def _clear_search(self) -> None:
        self.search.clear()
        self._apply_search()
        self.focus_feed()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def focus_feed(self) -> None:
        self.view.setFocus(Qt.FocusReason.ShortcutFocusReason)
        if not self.view.currentIndex().isValid() and self.model.rowCount():
            self._select_row(0)

    def go_newest(self) -> None:
        if self.model.rowCount():
            self._select_row(0)
        self.view.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- moving around -----------------------------------------------------------------------
    def _select_row(self, row: int) -> None:
        index = self.model.index(row, 0)
        flags = (
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows
        )
        self.view.selectionModel().setCurrentIndex(index, flags)
        self.view.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)

    def next_unlinked(self) -> None:
        self._jump_unlinked(1)

    def previous_unlinked(self) -> None:
        self._jump_unlinked(-1)

    def _jump_unlinked(self, step: int) -> None:
        current = self.view.currentIndex()
        start = current.row() if current.isValid() else (-1 if step > 0 else 0)
        if self.model.rowCount() == 0:
            found = None
        else:
            found = self.model.find_flagged(start, F_NEEDS_LINK, step)
        if found is None:
            self.statusBar().showMessage(
                "No report needing a link among the rows shown: Alt+2 lists them all.", 6000
            )
            return
        self._select_row(found)
        self.view.setFocus(Qt.FocusReason.ShortcutFocusReason)

    # -- details -----------------------------------------------------------------------------
    def _set_details_visible(self, visible: bool) -> None:
        self.details.setVisible(visible)
        if visible:
            self._details_key = None
            self._schedule_details()

    def _show_details_of_current(self) -> None:
        index = self.view.currentIndex()
        if index.isValid() and self.model.flags_at(index.row()) & F_NEEDS_LINK:
            self.link_current()
            return
        if not self.details_action.isChecked():
            self.details_action.setChecked(True)
        self.details.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._schedule_details()
        self._update_revocation_action()

    def _update_revocation_action(self) -> None:
        index = self.view.currentIndex()
        flagged = index.isValid() and bool(self.model.flags_at(index.row()) & F_REVOCATION)
        self.confirm_opt_out_action.setEnabled(flagged)

    def _schedule_details(self) -> None:
        if self.details.isVisible() or self.details_action.isChecked():
            self._details_timer.start()

    def _rows_updated(self, keys: set[int]) -> None:
        if self._details_key is not None and self._details_key in keys:
            self._details_key = None
            self._schedule_details()

    def _load_details(self) -> None:
        if self.stopping:
            return
        index = self.view.currentIndex()
        key = self.model.key_at(index.row()) if index.isValid() else None
        if key is None:
            self._details_key = None
            self.details.setHtml(details_html.render_empty(self.theme_name))
            return
        if key == self._details_key:
            return
        self._details_key = key
        self.worker.submit(partial(_job_details, key), partial(self._on_details, key))

    def _on_details(self, key: int, value: Any) -> None:
        if key != self._details_key:
            return
        scroll = self.details.verticalScrollBar().value()
        self.details.setHtml(details_html.render(value, self.theme_name))
        self.details.verticalScrollBar().setValue(scroll)

    # -- supervisor --------------------------------------------------------------------------
    def show_mappings(self, tab: str = "all") -> MappingsScreen:
        """Open (or raise) the Mappings screen on a tab: "all", "review" or "conflicts"."""
        screen = self.mappings_screen
        if screen is None or not shiboken6.isValid(screen) or not screen.isVisible():
            engine = self.backend.engine
            screen = MappingsScreen(
                worker=self.supervisor_worker,
                sessions=self.backend.db.sessions,
                actor=lambda: self.actor,
                region=self.backend.settings.region,
                wake=engine.wake_forwarder if engine is not None else None,
                tab=tab,
                parent=self,
            )
            screen.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            screen.changed.connect(lambda text: self.statusBar().showMessage(text, 15000))
            screen.reviewCountChanged.connect(self._on_review_count)
            self.mappings_screen = screen
            screen.show()
        else:
            screen.refresh()
            screen.show_tab(tab)
        screen.activateWindow()
        return screen

    def import_link_corrections(self) -> None:
        self.show_mappings().import_corrections()

    def _load_review_count(self) -> None:
        may_review = self.actor.may(Permission.REVIEW_LINKS)
        if self.supervisor_bar.isHidden() == may_review:
            self.supervisor_bar.setVisible(may_review)
        if may_review and not self.stopping:
            self.supervisor_worker.submit(review_count, self._on_review_count)

    def _on_review_count(self, n: int) -> None:
        self.review_button.setText(f"Review: {n:,}")
        self.review_button.setAccessibleName(f"{n} links waiting for review: open the queue")

    # -- linking -----------------------------------------------------------------------------
    def _row_activated(self, index: QModelIndex) -> None:
        if index.isValid() and self.model.flags_at(index.row()) & F_NEEDS_LINK:
            self.link_current()

    def _details_link(self, url: QUrl) -> None:
        if url.scheme() == "outagedesk" and url.host() == "link":
            key = url.path().strip("/")
            if key.lstrip("-").isdigit():
                self.open_link_dialog(int(key))

    def link_current(self) -> None:
        index = self.view.currentIndex()
        key = self.model.key_at(index.row()) if index.isValid() else None
        if key is None or key < 0:
            self.statusBar().showMessage("Select a report to link first (F8: next one).", 6000)
            return
        self.open_link_dialog(key)

    def open_link_dialog(self, key: int) -> None:
        if self.stopping:
            return
        self.worker.submit(partial(_job_details, key), self._on_link_details)

    def _on_link_details(self, d: Any) -> None:
        if self.stopping or d is None or not hasattr(d, "phone"):
            return
        report = d.report
        ref = ReportRef(
            d.phone,
            d.body,
            report.pk if report else None,
            report.report_id if report else None,
            report.revision if report else 1,
            report.state if report else None,
        )
        old = self.link_dialog
        if old is not None and shiboken6.isValid(old) and old.isVisible():
            old.close()
        engine = self.backend.engine
        dialog = LinkDialog(
            ref,
            worker=self.worker,
            sessions=self.backend.db.sessions,
            actor=self.actor,
            policy=engine.config.replies if engine is not None else None,
            wake=engine.wake_forwarder if engine is not None else None,
            parent=self,
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.linked.connect(self._on_linked)
        self.link_dialog = dialog
        dialog.show()
        dialog.activateWindow()  # keyboard-first: typing goes to its search field at once

    def _on_linked(self, summary: str) -> None:
        self.statusBar().showMessage(summary, 15000)
        self._details_key = None
        self._schedule_details()

    def selected_report_pks(self) -> list[int]:
        rows = {i.row() for i in self.view.selectionModel().selectedRows()}
        current = self.view.currentIndex()
        if not rows and current.isValid():
            rows = {current.row()}
        pks = {int(self.model.row_tuple(r)[R_REPORT]) for r in rows}
        return sorted(pk for pk in pks if pk > 0)

    def resend_selected(self) -> None:
        pks = self.selected_report_pks()
        if not pks:
            self.statusBar().showMessage("No report among the selected rows.", 6000)
            return
        box = QMessageBox(self)
        box.setObjectName("resendConfirm")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Re-send reports")
        n = len(pks)
        box.setText(f"Re-send {n} report{'s' if n != 1 else ''} to the OMS as a new revision?")
        box.setInformativeText("Reports that already have a ticket are skipped.")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.Yes)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(partial(self._on_resend_confirmed, pks))
        self.resend_box = box
        box.open()

    def _on_resend_confirmed(self, pks: list[int], code: int) -> None:
        self.resend_box = None
        if code != QMessageBox.StandardButton.Yes.value or self.stopping:
            return
        actor = self.actor
        submit_write(
            self.worker, self.backend.db.sessions, partial(do_resend, actor, pks), self._on_resent
        )

    def _on_resent(self, result: LinkResult | Failure) -> None:
        if isinstance(result, Failure):
            self._show_error(result.message)
            return
        if result.resent and self.backend.engine is not None:
            self.backend.engine.wake_forwarder()
        n = len(result.resent)
        self.statusBar().showMessage(
            f"Re-sent {n} report{'s' if n != 1 else ''} to the OMS as a new revision"
            + ("." if n else " (every selected report already has a ticket)."),
            15000,
        )

    def show_number_panel(self, phone: str | None = None) -> None:
        if phone is None:
            index = self.view.currentIndex()
            row = self.model.row_tuple(index.row()) if index.isValid() else None
            phone = _e164_of(row)
        panel = NumberPanel(
            worker=self.worker,
            sessions=self.backend.db.sessions,
            actor=self.actor,
            phone=phone,
            parent=self,
        )
        panel.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        panel.linkRemoved.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.number_panel = panel
        panel.show()
        panel.activateWindow()

    def show_consent_screen(self, phone: str | None = None, reason: str = "") -> None:
        if self.stopping:
            return
        if phone is None:
            index = self.view.currentIndex()
            row = self.model.row_tuple(index.row()) if index.isValid() else None
            phone = _e164_of(row)
        old = self.consent_screen
        if old is not None and shiboken6.isValid(old) and old.isVisible():
            old.close()
        settings = self.backend.settings
        engine = self.backend.engine
        screen = ConsentScreen(
            worker=self.worker,
            sessions=self.backend.db.sessions,
            actor=self.actor,
            gateway_url=settings.gateway_url,
            gateway_token=settings.gateway_token,
            region=settings.region,
            wake=engine.wake_forwarder if engine is not None else None,
            phone=phone,
            reason=reason,
            parent=self,
        )
        screen.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        screen.optedOut.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.consent_screen = screen
        screen.show()
        screen.activateWindow()
        if reason:
            screen.reason.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_audit_screen(self, phone: str | None = None) -> None:
        """The audit trail (non-modal); the screen itself shows a refusal for other roles."""
        from outagedesk.ui.audit_screen import AuditScreen

        if self.stopping:
            return
        old = getattr(self, "audit_screen", None)
        if old is not None and shiboken6.isValid(old) and old.isVisible():
            old.close()
        screen = AuditScreen(
            worker=self.supervisor_worker,
            actor=self.actor,
            region=self.backend.settings.region,
            phone=phone,
            parent=self,
        )
        screen.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        screen.exported.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.audit_screen = screen
        screen.show()
        screen.activateWindow()

    def confirm_revocation(self) -> None:
        """The selected text reads like a revocation: open the consent screen to apply it."""
        index = self.view.currentIndex()
        key = self.model.key_at(index.row()) if index.isValid() else None
        if key is None or not self.model.flags_at(index.row()) & F_REVOCATION:
            self.statusBar().showMessage("The selected text is not flagged as a revocation.", 6000)
            return
        self.worker.submit(partial(_job_details, key), self._on_revocation_details)

    def _on_revocation_details(self, d: Any) -> None:
        if self.stopping or d is None or not getattr(d, "phone", None):
            return
        body = " ".join(str(d.body).split())
        self.show_consent_screen(d.phone, reason=f"revocation text: {body}")

    # -- live updates ------------------------------------------------------------------------
    def _on_messages_stored(self, event: Any) -> None:
        if self.stopping:
            return
        self.model.notify_new()
        if (event.report_ids or event.quarantined) and not self._counts_timer.isActive():
            self._counts_timer.start()

    def _on_reports_changed(self, event: Any) -> None:
        if self.stopping:
            return
        self.model.notify_changed(event.report_ids)
        if not self._counts_timer.isActive():
            self._counts_timer.start()

    def _on_connection_changed(self, event: Any) -> None:
        if not self.stopping and (
            event.state != LinkState.ONLINE or self._indicator(event.component).state != event.state
        ):
            self._refresh_status()

    def _indicator(self, component: str) -> StatusIndicator:
        return self.status_gateway if component == "gateway" else self.status_oms

    def _keep_scroll_position(self, inserted: int) -> None:
        bar = self.view.verticalScrollBar()
        if bar.value() > 0:
            # Reading older rows: keep them still while new ones land above.
            bar.setValue(bar.value() + inserted * self.view.verticalHeader().defaultSectionSize())

    def _load_counts(self) -> None:
        if not self.stopping:
            self.worker.submit(feed.feed_counts, self._on_counts)

    def _on_counts(self, counts: FeedCounts) -> None:
        previous = self.counts
        self.counts = counts
        n = counts.needs_linking
        self.badge.setText(f"Needs linking: {n}")
        self.badge.setAccessibleName(f"Needs linking: {n}. Show only reports that need a link")
        alert = n > 0
        if self.badge.property("alert") != alert:
            self.badge.setProperty("alert", alert)
            self.badge.style().unpolish(self.badge)
            self.badge.style().polish(self.badge)
        for f, count in (
            (FeedFilter.NEEDS_LINKING, counts.needs_linking),
            (FeedFilter.FAILED, counts.failed),
            (FeedFilter.QUARANTINE, counts.quarantined),
        ):
            label = filter_label(f) + (f" ({count})" if count else "")
            button = self.filter_buttons[f]
            if button.text() != label:
                button.setText(label)
        if previous is not None and n > previous.needs_linking:
            self.notifier.unlinked(n - previous.needs_linking)

    def _refresh_status(self) -> None:
        engine = self.backend.engine
        if engine is None or self.stopping:
            return
        status = engine.status()
        self.status_gateway.update_link(status.gateway)
        self.status_oms.update_link(status.oms)
        backlog = f"Outbox: {status.backlog} waiting"
        if self.status_backlog.text() != backlog:
            self.status_backlog.setText(backlog)
            warn = status.backlog >= 50 or (
                status.backlog > 0 and status.oms.state in (LinkState.OFFLINE, LinkState.AUTH_ERROR)
            )
            if self.status_backlog.property("status") != ("warn" if warn else "ok"):
                self.status_backlog.setProperty("status", "warn" if warn else "ok")
                self.status_backlog.style().unpolish(self.status_backlog)
                self.status_backlog.style().polish(self.status_backlog)
        self._rate.add(status.counters.reports)
        rate = f"Reports: {self._rate.per_minute():.0f}/min"
        if self.status_rate.text() != rate:
            self.status_rate.setText(rate)
        if status.engine_down:
            problems = [engine_down_problem(status.engine_down)]
        else:
            problems = [
                p
                for p in (
                    banner_problem("Gateway", status.gateway),
                    banner_problem("OMS", status.oms),
                )
                if p
            ]
        self.banner.show_problems(problems)

    def _update_feed_label(self, *_args: Any) -> None:
        n = self.model.rowCount()
        more = " · scroll down for older" if self.model.has_more else ""
        what = filter_label(self.model.query.filter).replace("&&", "&")
        search = f' matching "{self.model.query.search}"' if self.model.query.search else ""
        self.status_feed.setText(f"{what}{search}: {n:,} rows shown{more}")

    def _show_error(self, text: str) -> None:
        self.errors.append(text)
        log.warning("%s", text)
        self.statusBar().showMessage(text, 10000)

    def _explain(self, indicator: StatusIndicator) -> None:
        link = indicator.link
        detail = link.detail or "No problem reported."
        box = QMessageBox(self)
        box.setObjectName("connectionDetails")
        box.setWindowTitle(f"{indicator.name} connection")
        box.setText(indicator.text())
        box.setInformativeText(detail)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- look --------------------------------------------------------------------------------
    def _theme_toggled(self, name: str, checked: bool) -> None:
        if checked:
            self.set_theme(name)

    def set_theme(self, name: str) -> None:
        self.theme_name = name
        theme.apply_theme(name)
        self.model.set_theme(name)
        (self.dark_action if name == theme.DARK else self.light_action).setChecked(True)
        self._details_key = None
        self._schedule_details()

    def set_font_scale(self, scale: float, *, rescale_columns: bool = True) -> None:
        """Text in the feed, its header and the details pane at ``scale`` times the desktop's
        size. The feed's columns grow and shrink with it (the widths a user set included), so
        larger text shows as much of a phone number as before; ``rescale_columns=False`` is for
        widths saved at this scale."""
        scale = min(max(scale, FONT_STEPS[0]), FONT_STEPS[-1])
        ratio = scale / self.font_scale
        self.font_scale = scale
        font = QFont(self._base_font)
        size = self._base_font.pointSizeF()
        if size > 0:
            font.setPointSizeF(size * scale)
        self.setFont(font)
        self.view.setFont(font)
        # Set on these two as well: under the style sheets the window's font does not reach them.
        self.view.horizontalHeader().setFont(font)
        self.details.setFont(font)
        self.model.set_font(font)
        if rescale_columns and abs(ratio - 1.0) > 1e-6:
            hh = self.view.horizontalHeader()
            for col in range(hh.count()):
                hh.resizeSection(col, round(hh.sectionSize(col) * ratio))
        height = QFontMetrics(font).height() + 8
        vh = self.view.verticalHeader()
        vh.setMinimumSectionSize(height)
        vh.setDefaultSectionSize(height)
        icon = max(14, int(QFontMetrics(font).height() * 0.9))
        self.view.setIconSize(
            self.view.iconSize().scaled(icon, icon, Qt.AspectRatioMode.IgnoreAspectRatio)
        )

    def zoom_in(self) -> None:
        bigger = [s for s in FONT_STEPS if s > self.font_scale + 1e-6]
        self.set_font_scale(bigger[0] if bigger else FONT_STEPS[-1])

    def zoom_out(self) -> None:
        smaller = [s for s in FONT_STEPS if s < self.font_scale - 1e-6]
        self.set_font_scale(smaller[-1] if smaller else FONT_STEPS[0])

    def zoom_reset(self) -> None:
        self.set_font_scale(1.0)

    def _set_muted(self, muted: bool) -> None:
        self.notifier.muted = muted
        self.mute_button.setChecked(muted)
        self.mute_button.setIcon(theme.icon("bell-off" if muted else "bell"))
        self.mute_button.setAccessibleDescription("muted" if muted else "sound on")

    # -- help --------------------------------------------------------------------------------
    def show_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self.all_actions, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        self.shortcuts_dialog = dialog

    def show_about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About OutageDesk")
        box.setText(f"OutageDesk {__version__}")
        box.setInformativeText(
            "Every outage text becomes an OMS trouble ticket; the ones that cannot are "
            "flagged here for a dispatcher to link."
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- training ----------------------------------------------------------------------------
    def update_training_action(self) -> None:
        """Enabled only for people who may run training (the launcher checks again)."""
        allowed = self.actor.may(Permission.RUN_TRAINING)
        self.start_training_action.setEnabled(allowed)
        self.start_training_action.setToolTip(
            "Open training mode in a window of its own, on a training database"
            if allowed
            else "Only trainers and administrators may start training mode"
        )

    def start_training(self) -> None:
        try:
            started = launch_training(self.actor, self.backend.settings)
        except PermissionDenied as exc:
            self._show_error(str(exc))
            return
        self.statusBar().showMessage(
            "Training mode is starting in a window of its own."
            if started
            else "Training mode could not be started: see the log.",
            10000,
        )

    # -- demo controls -----------------------------------------------------------------------
    def _demo_gateway_down(self, down: bool) -> None:
        if self.backend.sim is not None:
            self.backend.sim.gateway.set_down(down)

    def _demo_oms_down(self, down: bool) -> None:
        if self.backend.sim is not None:
            self.backend.sim.oms.set_down(down)

    def _demo_burst(self) -> None:
        sim = self.backend.sim
        if sim is not None:
            threading.Thread(
                target=sim.traffic.feed, args=(sim.gateway, 50), name="demo-burst", daemon=True
            ).start()

    # -- quitting ----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.stopped:
            event.accept()
            return
        event.ignore()
        self.begin_shutdown()

    def begin_shutdown(self) -> None:
        """Save the state, stop reading, stop the engine (off the GUI thread), then close."""
        if self.stopping:
            return
        self.stopping = True
        log.info("closing the window")
        try:
            self.save_state()
        except Exception:
            log.exception("could not save the window state")
        self.statusBar().showMessage("Stopping: finishing the current transaction…")
        if self.lock_overlay is not None and self._feed_widget is not None:
            self.setCentralWidget(self._feed_widget)  # the feed is torn down as usual
            self.lock_overlay = None
        central = self.centralWidget()
        if central is not None:
            central.setEnabled(False)
        if self.training is not None:
            self.training.stop()
        for timer in (
            self._status_timer,
            self._counts_timer,
            self._counts_fallback,
            self._details_timer,
            self._search_timer,
        ):
            timer.stop()
        self._close_screens()
        self.model.stop()
        self.bridge.close()
        self.notifier.close()
        self._stopper = threading.Thread(
            target=self._stop_backend, name="outagedesk-ui-stop", daemon=False
        )
        self._stopper.start()

    def _stop_backend(self) -> None:  # runs on the stopper thread
        ok = False
        try:
            self.worker.shutdown()
            self.supervisor_worker.shutdown()
            ok = self.backend.stop()
        except Exception:
            log.exception("stopping the engine failed")
        self._backendStopped.emit(ok)

    def _on_backend_stopped(self, ok: bool) -> None:
        if self._stopper is not None:
            self._stopper.join(5)
        self.stopped = True
        log.info("engine stopped%s", "" if ok else " (not cleanly)")
        self.close()
        self.shutdownFinished.emit()


def _job_details(key: int, session: Any) -> Any:
    return feed.details(session, key)


def _e164_of(row: tuple[Any, ...] | None) -> str | None:
    """The selected row's phone for the Number panel (the feed shows it formatted)."""
    if row is None:
        return None
    from outagedesk.domain.phones import InvalidPhoneError, normalize_phone

    try:
        return normalize_phone(str(row[C_PHONE]))
    except InvalidPhoneError:
        return None
