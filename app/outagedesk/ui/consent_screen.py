"""Check Opt-In / Force Opt-Out: one number's consent, ours beside the gateway's, and its history.

Enter a number: every keyword it is opted into or out of (since when, how, its tags), the full
consent history, and, when the gateway offers the opt-in registry, the gateway's view beside
ours with the differences marked (colour and "≠"). A dispatcher can force an opt-out (one
keyword or all) with a reason: recorded, audited, and passed on to the gateway by the engine.
There is deliberately no way to opt a number in: only the customer can, by texting START or a
keyword. Consent records can be exported as CSV for a date range, for audits.

Database work runs on the window's worker thread; the gateway is asked with httpx on the qasync
loop (never blocking the GUI thread). Dialogs are opened with ``open()``, never ``exec()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outagedesk.domain.consent import ALL_KEYWORDS
from outagedesk.domain.phones import InvalidPhoneError, format_phone, normalize_phone
from outagedesk.ops.base import Actor, Permission, require
from outagedesk.ops.consent import consent_history, export_consent_csv, force_opt_out
from outagedesk.ops.people import needs_role_text
from outagedesk.store.models import ConsentRecord, InboundMessage
from outagedesk.ui.link_dialog import Failure, submit_write
from outagedesk.ui.worker import DbWorker

log = logging.getLogger(__name__)

GATEWAY_TIMEOUT = 5.0
FOLLOW_UP_MS = 500
FOLLOW_UP_TRIES = 30
ALL_LABEL = "(any other keyword)"
DIFF_MARK = "≠"
DIFF_COLOUR = QColor("#f8d7da")
NO_OPT_IN_TEXT = (
    "There is no way to opt a number in from here: only the customer can opt back in, by "
    "texting START or a keyword."
)

# Columns of the keyword table.
K_KEYWORD, K_OURS, K_SINCE, K_HOW, K_TAGS, K_GW, K_GW_SINCE = range(7)
KEYWORD_HEADERS = ["Keyword", "Ours", "Since", "How", "Tags", "Gateway", "Gateway since"]
HISTORY_HEADERS = ["When", "Keyword", "In/out", "How", "Actor", "Message", "Tags"]


# -- what the screen shows (built on the worker thread) ----------------------------------------
@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    keyword: str
    opted_in: bool
    how: str
    actor: str | None
    message: str | None
    tags: list[str]


@dataclass
class OurKeyword:
    opted_in: bool
    since: datetime
    how: str
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ConsentInfo:
    phone: str
    keywords: dict[str, OurKeyword]
    default: OurKeyword | None
    """The last record for every keyword (``*``), if any: covers keywords never named."""
    history: list[HistoryRow]

    def ours(self, keyword: str) -> OurKeyword | None:
        return self.keywords.get(keyword, self.default)


def _how(record: ConsentRecord) -> str:
    return f"{record.how} by {record.actor}" if record.actor else record.how


def fold(phone: str, records: list[tuple[ConsentRecord, str | None]]) -> ConsentInfo:
    """Replay the records, oldest first, into each keyword's state (as ``replay`` does)."""
    keywords: dict[str, OurKeyword] = {}
    default: OurKeyword | None = None
    history = []
    for record, body in records:
        tags = list(record.tags or [])
        history.append(
            HistoryRow(
                record.at, record.keyword, record.opted_in, _how(record), record.actor, body, tags
            )
        )
        if record.keyword == ALL_KEYWORDS:
            default = OurKeyword(record.opted_in, record.at, _how(record), tags)
            for state in keywords.values():
                state.opted_in, state.since, state.how = record.opted_in, record.at, _how(record)
                state.tags.extend(t for t in tags if t not in state.tags)
        else:
            known = keywords.get(record.keyword)
            if known is None:
                keywords[record.keyword] = OurKeyword(
                    record.opted_in, record.at, _how(record), tags
                )
            else:
                known.opted_in, known.since, known.how = record.opted_in, record.at, _how(record)
                known.tags.extend(t for t in tags if t not in known.tags)
    return ConsentInfo(phone, keywords, default, history)


def load_consent(phone: str, session: Session) -> ConsentInfo:
    ids = [r.id for r in consent_history(session, phone)]
    rows = session.execute(
        select(ConsentRecord, InboundMessage.body)
        .outerjoin(InboundMessage, InboundMessage.id == ConsentRecord.message_pk)
        .where(ConsentRecord.id.in_(ids))
        .order_by(ConsentRecord.id)
    ).all()
    return fold(phone, [(r, body) for r, body in rows])


# -- the gateway's view ------------------------------------------------------------------------
@dataclass(frozen=True)
class GatewayKeyword:
    status: str
    since: str
    tags: list[str]


@dataclass(frozen=True)
class GatewayView:
    state: str
    """``ok``, ``never_seen``, ``unsupported`` or ``error``."""
    keywords: dict[str, GatewayKeyword] = field(default_factory=dict)
    message: str = ""


async def fetch_gateway_view(
    url: str, token: str | None, phone: str, wait: float = GATEWAY_TIMEOUT
) -> GatewayView:
    """``GET /v1/optins/{e164}``; errors come back as a view saying so, never raised."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    target = f"{url.rstrip('/')}/v1/optins/{quote(phone, safe='+')}"
    try:
        async with httpx.AsyncClient(timeout=wait) as client:
            response = await client.get(target, headers=headers)
    except httpx.HTTPError as exc:
        return GatewayView("error", message=f"the gateway did not answer ({type(exc).__name__})")
    if response.status_code == 404:
        return GatewayView("never_seen", message="the gateway has never seen this number")
    if response.status_code in (405, 501):
        return GatewayView("unsupported", message="the gateway offers no opt-in registry")
    if response.status_code in (401, 403):
        return GatewayView("error", message="the gateway refused our token")
    if response.status_code != 200:
        return GatewayView("error", message=f"the gateway answered {response.status_code}")
    try:
        payload = response.json()
        keywords = {
            str(k["keyword"]).upper(): GatewayKeyword(
                str(k["status"]), str(k.get("since") or ""), [str(t) for t in k.get("tags") or []]
            )
            for k in payload["keywords"]
        }
    except (ValueError, KeyError, TypeError):
        return GatewayView("error", message="the gateway's answer could not be read")
    return GatewayView("ok", keywords)


# -- comparing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeywordRow:
    keyword: str
    ours: OurKeyword | None
    gateway: GatewayKeyword | None
    differs: bool


def keyword_rows(info: ConsentInfo, view: GatewayView | None) -> list[KeywordRow]:
    gw = view.keywords if view is not None and view.state == "ok" else {}
    rows = []
    for keyword in sorted(set(info.keywords) | set(gw)):
        ours = info.ours(keyword)
        theirs = gw.get(keyword)
        differs = False
        if view is not None and view.state == "ok":
            our_status = ours.opted_in if ours is not None else True
            if theirs is None:
                differs = ours is not None and not ours.opted_in
            else:
                differs = our_status != (theirs.status == "opted_in")
        elif view is not None and view.state == "never_seen":
            differs = ours is not None
        rows.append(KeywordRow(keyword, ours, theirs, differs))
    if info.default is not None:
        differs = view is not None and view.state == "never_seen"
        rows.append(KeywordRow(ALL_KEYWORDS, info.default, None, differs))
    return rows


def _t(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at else "—"


def _gw_time(stamp: str) -> str:
    try:
        return _t(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    except ValueError:
        return stamp or "—"


def _state(opted_in: bool) -> str:
    return "opted in" if opted_in else "opted out"


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time()).astimezone().astimezone(UTC)


def export_range(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, the day after end 00:00) in local time, as UTC."""
    return _local_midnight(start), _local_midnight(end + timedelta(days=1))


def write_export(actor: Actor, path: Path, start: datetime, end: datetime, session: Session) -> int:
    require(actor, Permission.VIEW_AUDIT)  # before the file is created
    with path.open("w", encoding="utf-8", newline="") as out:
        return export_consent_csv(session, actor, out, start, end)


class ConsentScreen(QDialog):
    """Check opt-in / force opt-out for one number (non-modal)."""

    loaded = Signal()
    gatewayLoaded = Signal()
    optedOut = Signal(str)
    exported = Signal(str)

    def __init__(
        self,
        *,
        worker: DbWorker,
        sessions: sessionmaker[Session],
        actor: Actor,
        gateway_url: str | None,
        gateway_token: str | None,
        region: str = "US",
        wake: Callable[[], None] | None = None,
        phone: str | None = None,
        reason: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.sessions = sessions
        self.actor = actor
        self.gateway_url = gateway_url
        self.gateway_token = gateway_token
        self.region = region
        self.wake = wake
        self.phone: str | None = None
        self.info: ConsentInfo | None = None
        self.gateway: GatewayView | None = None
        self.rows: list[KeywordRow] = []
        self.confirm_box: QMessageBox | None = None
        self.file_dialog: QFileDialog | None = None
        self._gateway_task: asyncio.Task[None] | None = None
        self._follow_ups = 0
        self._closed = False
        self.setObjectName("consentScreen")
        self.setWindowTitle("Check opt-in / force opt-out")
        self.setAccessibleName("Check opt-in and force opt-out")
        self._build()
        self.reason.setText(reason)
        self.resize(1000, 720)
        self.input.setFocus(Qt.FocusReason.OtherFocusReason)
        if phone:
            self.input.setText(format_phone(phone, region))
            self.lookup()

    # -- building ------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        label = QLabel("&Phone number:", self)
        self.input = QLineEdit(self)
        self.input.setObjectName("consentNumber")
        self.input.setAccessibleName("Phone number to check")
        self.input.setPlaceholderText("e.g. (208) 555-0150, then Enter")
        label.setBuddy(self.input)
        self.show_button = self._button("&Check", "consentCheckButton", "Check this number")
        self.refresh_button = self._button(
            "&Refresh (F5)", "consentRefreshButton", "Read the consent and the gateway again"
        )
        row.addWidget(label)
        row.addWidget(self.input, 1)
        row.addWidget(self.show_button)
        row.addWidget(self.refresh_button)
        layout.addLayout(row)
        self.title = QLabel(self)
        self.title.setObjectName("consentTitle")
        layout.addWidget(self.title)

        kw_label = QLabel("&Keywords (ours beside the gateway's; ≠ marks a difference):", self)
        layout.addWidget(kw_label)
        self.keywords = self._table("consentKeywords", "Keywords of this number", KEYWORD_HEADERS)
        kw_label.setBuddy(self.keywords)
        layout.addWidget(self.keywords, 2)
        self.gateway_status = QLabel(self)
        self.gateway_status.setObjectName("consentGatewayStatus")
        self.gateway_status.setAccessibleName("The gateway's view")
        self.gateway_status.setWordWrap(True)
        layout.addWidget(self.gateway_status)

        hist_label = QLabel("Consent &history (every record, oldest first):", self)
        layout.addWidget(hist_label)
        self.history = self._table("consentHistory", "Consent history", HISTORY_HEADERS)
        self.history.horizontalHeader().setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        hist_label.setBuddy(self.history)
        layout.addWidget(self.history, 2)

        force = QGroupBox("Force opt-out", self)
        force.setObjectName("forceOptOutBox")
        grid = QVBoxLayout(force)
        frow = QHBoxLayout()
        kw = QLabel("Key&word:", force)
        self.keyword_choice = QComboBox(force)
        self.keyword_choice.setObjectName("forceOptOutKeyword")
        self.keyword_choice.setAccessibleName("Keyword to opt out of")
        self.keyword_choice.addItem("All keywords", None)
        kw.setBuddy(self.keyword_choice)
        why = QLabel("R&eason (required):", force)
        self.reason = QLineEdit(force)
        self.reason.setObjectName("forceOptOutReason")
        self.reason.setAccessibleName("Reason for the forced opt-out (required)")
        self.reason.setPlaceholderText("e.g. customer asked by phone")
        why.setBuddy(self.reason)
        self.force_button = self._button(
            "&Force opt-out…", "forceOptOutButton", "Force an opt-out of the chosen keyword"
        )
        self.force_button.setEnabled(False)
        frow.addWidget(kw)
        frow.addWidget(self.keyword_choice)
        frow.addWidget(why)
        frow.addWidget(self.reason, 1)
        frow.addWidget(self.force_button)
        grid.addLayout(frow)
        note = QLabel(
            "Recorded with your name, audited and passed on to the gateway. " + NO_OPT_IN_TEXT,
            force,
        )
        note.setObjectName("consentNoOptInNote")
        note.setWordWrap(True)
        grid.addWidget(note)
        layout.addWidget(force)

        export = QGroupBox("Export consent records (CSV, for audits)", self)
        export.setObjectName("consentExportBox")
        erow = QHBoxLayout(export)
        today = QDate.currentDate()
        self.export_from = self._date("consentExportFrom", "Export from (first day)")
        self.export_from.setDate(today.addMonths(-1))
        self.export_to = self._date("consentExportTo", "Export to (last day, included)")
        self.export_to.setDate(today)
        self.export_path = QLineEdit(export)
        self.export_path.setObjectName("consentExportPath")
        self.export_path.setAccessibleName("File to write the CSV to")
        self.export_path.setPlaceholderText("consent.csv")
        self.browse_button = self._button("&Browse…", "consentExportBrowse", "Choose the CSV file")
        self.export_button = self._button(
            "E&xport CSV", "consentExportButton", "Export the consent records of these days"
        )
        for text, widget in (("From:", self.export_from), ("To:", self.export_to)):
            lab = QLabel(text, export)
            lab.setBuddy(widget)
            erow.addWidget(lab)
            erow.addWidget(widget)
        path_label = QLabel("&File:", export)
        path_label.setBuddy(self.export_path)
        erow.addWidget(path_label)
        erow.addWidget(self.export_path, 1)
        erow.addWidget(self.browse_button)
        erow.addWidget(self.export_button)
        if not self.actor.may(Permission.VIEW_AUDIT):
            # A courtesy: the export itself refuses whoever may not read the audit trail.
            export.setEnabled(False)
            export.setToolTip(needs_role_text(Permission.VIEW_AUDIT))
        layout.addWidget(export)

        self.status = QLabel(self)
        self.status.setObjectName("consentStatus")
        self.status.setAccessibleName("Consent screen status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)

        self.input.returnPressed.connect(self.lookup)
        self.show_button.clicked.connect(self.lookup)
        self.refresh_button.clicked.connect(self.reload)
        refresh = QShortcut(QKeySequence("F5"), self)
        refresh.activated.connect(self.reload)
        self.reason.returnPressed.connect(self.ask_force)
        self.force_button.clicked.connect(self.ask_force)
        self.browse_button.clicked.connect(self.browse)
        self.export_button.clicked.connect(self.export)

    def _button(self, text: str, name: str, accessible: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setAccessibleName(accessible)
        button.setAutoDefault(False)
        return button

    def _table(self, name: str, accessible: str, headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers), self)
        table.setObjectName(name)
        table.setAccessibleName(accessible)
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setTabKeyNavigation(False)
        table.horizontalHeader().setStretchLastSection(True)
        return table

    def _date(self, name: str, accessible: str) -> QDateEdit:
        edit = QDateEdit(self)
        edit.setObjectName(name)
        edit.setAccessibleName(accessible)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat("yyyy-MM-dd")
        inner = edit.findChild(QLineEdit)
        if inner is not None:
            inner.setAccessibleName(accessible)
        return edit

    # -- reading -------------------------------------------------------------------------------
    def lookup(self) -> None:
        raw = self.input.text().strip()
        try:
            phone = normalize_phone(raw, self.region)
        except InvalidPhoneError as exc:
            self.status.setText(f"⚠ {exc}")
            return
        if phone != self.phone:
            self.info = None
            self.gateway = None
        self.phone = phone
        self.status.setText("Loading…")
        self.reload()

    def reload(self) -> None:
        if self.phone is None or self._closed:
            return
        self.worker.submit(partial(load_consent, self.phone), self._on_loaded, self._on_failed)
        self.fetch_gateway()

    @property
    def gateway_busy(self) -> bool:
        return self._gateway_task is not None and not self._gateway_task.done()

    def fetch_gateway(self) -> None:
        phone = self.phone
        if phone is None or self._closed:
            return
        if not self.gateway_url:
            self._set_gateway(phone, GatewayView("unsupported", message="no gateway configured"))
            return
        if self.gateway_busy:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._set_gateway(
                phone, GatewayView("error", message="no event loop to ask the gateway on")
            )
            return
        self._gateway_task = loop.create_task(self._ask_gateway(phone))

    async def _ask_gateway(self, phone: str) -> None:
        view = await fetch_gateway_view(self.gateway_url or "", self.gateway_token, phone)
        if not self._closed:
            self._set_gateway(phone, view)

    def _set_gateway(self, phone: str, view: GatewayView) -> None:
        if phone != self.phone:
            return
        self.gateway = view
        self._show()
        self.gatewayLoaded.emit()
        if self._follow_ups > 0:
            self._follow_ups -= 1
            if any(r.differs for r in self.rows) or view.state == "error":
                QTimer.singleShot(FOLLOW_UP_MS, self, self.fetch_gateway)
            else:
                self._follow_ups = 0

    def _on_loaded(self, info: ConsentInfo) -> None:
        if self._closed or info.phone != self.phone:
            return
        self.info = info
        self.title.setText(f"<b>{escape(format_phone(info.phone, self.region))}</b> ({info.phone})")
        self.setWindowTitle(f"Check opt-in / force opt-out — {format_phone(info.phone)}")
        self._show()
        self.force_button.setEnabled(True)
        if self.status.text() == "Loading…":
            self.status.setText(
                f"{len(info.history)} consent record(s)." if info.history else "No consent record."
            )
        self.loaded.emit()

    def _on_failed(self, exc: BaseException) -> None:
        self.status.setText(f"⚠ Reading the database failed: {str(exc).splitlines()[0]}")

    def _show(self) -> None:
        info = self.info
        if info is None:
            return
        self.rows = keyword_rows(info, self.gateway)
        self._fill_keywords()
        self._fill_history(info)
        self._fill_choice(info)
        self.gateway_status.setText(self._gateway_summary())

    def _gateway_summary(self) -> str:
        view = self.gateway
        if view is None:
            return "Asking the gateway…"
        if view.state == "ok":
            n = sum(r.differs for r in self.rows)
            if n:
                return f"{DIFF_MARK} The gateway differs on {n} keyword(s) (marked {DIFF_MARK})."
            return "The gateway agrees with our records."
        if view.state == "never_seen":
            mark = f"{DIFF_MARK} " if any(r.differs for r in self.rows) else ""
            return f"{mark}Gateway: {view.message} (404)."
        return f"⚠ Gateway view unavailable: {view.message}."

    def _fill_keywords(self) -> None:
        table = self.keywords
        table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            ours = row.ours
            gw = row.gateway
            if self.gateway is None:
                gw_text = "…"
            elif gw is not None:
                gw_text = gw.status.replace("_", " ")
            elif self.gateway.state == "ok":
                gw_text = "—" if row.keyword != ALL_KEYWORDS else "n/a"
            elif self.gateway.state == "never_seen":
                gw_text = "never seen"
            else:
                gw_text = "unavailable"
            if row.differs:
                gw_text = f"{DIFF_MARK} {gw_text}"
            cells = [
                ALL_LABEL if row.keyword == ALL_KEYWORDS else row.keyword,
                _state(ours.opted_in) if ours else "no record",
                _t(ours.since) if ours else "—",
                ours.how if ours else "—",
                ", ".join(ours.tags) if ours else "",
                gw_text,
                _gw_time(gw.since) if gw else "—",
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row.keyword)
                if row.differs:
                    item.setBackground(QBrush(DIFF_COLOUR))
                    item.setForeground(QBrush(QColor("#000000")))
                    item.setToolTip("Ours and the gateway's differ")
                table.setItem(i, col, item)
        table.resizeColumnsToContents()

    def _fill_history(self, info: ConsentInfo) -> None:
        table = self.history
        table.setRowCount(len(info.history))
        for i, h in enumerate(info.history):
            cells = [
                _t(h.at),
                "all" if h.keyword == ALL_KEYWORDS else h.keyword,
                "in" if h.opted_in else "out",
                h.how,
                h.actor or "—",
                (h.message or "").replace("\n", " "),
                ", ".join(h.tags),
            ]
            for col, text in enumerate(cells):
                table.setItem(i, col, QTableWidgetItem(text))
        table.resizeColumnToContents(0)

    def _fill_choice(self, info: ConsentInfo) -> None:
        chosen = self.keyword_choice.currentData()
        known = sorted(
            set(info.keywords) | (set(self.gateway.keywords) if self.gateway is not None else set())
        )
        self.keyword_choice.blockSignals(True)
        self.keyword_choice.clear()
        self.keyword_choice.addItem("All keywords", None)
        for keyword in known:
            self.keyword_choice.addItem(keyword, keyword)
        index = self.keyword_choice.findData(chosen) if chosen is not None else 0
        self.keyword_choice.setCurrentIndex(max(index, 0))
        self.keyword_choice.blockSignals(False)

    # -- forcing an opt-out --------------------------------------------------------------------
    def choose_keyword(self, keyword: str | None) -> None:
        index = self.keyword_choice.findData(keyword) if keyword is not None else 0
        if index >= 0:
            self.keyword_choice.setCurrentIndex(index)

    def ask_force(self) -> None:
        if self.phone is None or self.info is None:
            self.status.setText("⚠ Enter a number and check it first.")
            return
        reason = self.reason.text().strip()
        if not reason:
            self.status.setText("⚠ A reason is required to force an opt-out.")
            self.reason.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        keyword: str | None = self.keyword_choice.currentData()
        what = f"keyword {keyword}" if keyword else "every keyword"
        box = QMessageBox(self)
        box.setObjectName("forceOptOutConfirm")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Force opt-out")
        box.setText(f"Opt {format_phone(self.phone, self.region)} out of {what}?")
        box.setInformativeText(
            f"Reason: {reason}\nRecorded with your name, audited and sent to the gateway. "
            + NO_OPT_IN_TEXT
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(partial(self._on_confirm, self.phone, keyword, reason))
        self.confirm_box = box
        box.open()

    def _on_confirm(self, phone: str, keyword: str | None, reason: str, code: int) -> None:
        self.confirm_box = None
        if code != QMessageBox.StandardButton.Yes.value or self._closed:
            return
        self.status.setText("Recording the opt-out…")
        self.force_button.setEnabled(False)
        submit_write(
            self.worker,
            self.sessions,
            lambda s: force_opt_out(s, self.actor, phone, keyword, reason),
            partial(self._on_forced, keyword),
        )

    def _on_forced(self, keyword: str | None, result: Any) -> None:
        if self._closed:
            return
        self.force_button.setEnabled(True)
        if isinstance(result, Failure):
            self.status.setText(f"⚠ {result.message}")
            return
        if self.wake is not None:
            self.wake()
        what = keyword if keyword else "every keyword"
        text = f"Opted out of {what}; the gateway will be told."
        self.status.setText(text)
        self.reason.clear()
        self.optedOut.emit(text)
        self._follow_ups = FOLLOW_UP_TRIES
        self.reload()

    # -- export --------------------------------------------------------------------------------
    def browse(self) -> None:
        dialog = QFileDialog(self, "Export consent records", self.export_path.text() or "")
        dialog.setObjectName("consentExportFileDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setNameFilter("CSV files (*.csv)")
        dialog.setDefaultSuffix("csv")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.export_path.setText)
        self.file_dialog = dialog
        dialog.open()

    def export(self) -> None:
        text = self.export_path.text().strip()
        if not text:
            self.status.setText("⚠ Choose a file to export to (Browse…).")
            self.export_path.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        first, last = self.export_from.date().toPython(), self.export_to.date().toPython()
        assert isinstance(first, date)
        assert isinstance(last, date)
        if last < first:
            self.status.setText("⚠ The last day is before the first day.")
            return
        start, end = export_range(first, last)
        path = Path(text).expanduser()
        self.status.setText("Exporting…")
        self.worker.submit(
            partial(write_export, self.actor, path, start, end),
            partial(self._on_exported, path, first, last),
            lambda exc: self.status.setText(f"⚠ The export failed: {exc}"),
        )

    def _on_exported(self, path: Path, first: date, last: date, count: int) -> None:
        text = f"Exported {count} consent record(s) of {first} – {last} to {path}."
        self.status.setText(text)
        self.exported.emit(text)

    # -- closing -------------------------------------------------------------------------------
    def done(self, code: int) -> None:
        self._closed = True
        self._follow_ups = 0
        if self._gateway_task is not None and not self._gateway_task.done():
            self._gateway_task.cancel()
        super().done(code)


__all__ = [
    "ConsentInfo",
    "ConsentScreen",
    "GatewayView",
    "export_range",
    "fetch_gateway_view",
    "fold",
    "keyword_rows",
    "load_consent",
]
