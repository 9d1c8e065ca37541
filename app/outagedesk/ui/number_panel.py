"""The Number panel: everything about one phone number, to answer "why no ticket?".

Its links (with "Remove link", an audited undo), its reports and tickets, its texts in both
directions and its consent. Non-modal; reads and the undo run on the window's worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from html import escape
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outagedesk.domain.consent import Purpose, may_send
from outagedesk.domain.phones import InvalidPhoneError, format_phone, normalize_phone
from outagedesk.ops.base import Actor
from outagedesk.ops.consent import consent_history
from outagedesk.ops.links import unlink
from outagedesk.store.models import InboundMessage, OutboundText, Report
from outagedesk.store.outbound import consent_states
from outagedesk.ui.link_dialog import CurrentLink, Failure, current_links, submit_write
from outagedesk.ui.worker import DbWorker

LIMIT = 50


@dataclass(frozen=True)
class NumberReport:
    report_id: str
    revision: int
    state: str
    ticket_id: str | None
    account_number: str | None
    resolved_level: str
    oms_message: str | None
    received_at: datetime


@dataclass(frozen=True)
class NumberText:
    at: datetime
    direction: str
    body: str
    what: str


@dataclass(frozen=True)
class NumberInfo:
    phone: str
    links: list[CurrentLink]
    reports: list[NumberReport]
    texts: list[NumberText]
    may_text: bool
    consent: list[tuple[datetime, str, bool, str]]


def load_number(phone: str, session: Session) -> NumberInfo:
    links = current_links(session, phone)
    reports = [
        NumberReport(
            r.report_id,
            r.revision,
            r.state,
            r.ticket_id,
            r.account_number,
            r.resolved_level,
            r.oms_message,
            r.received_at,
        )
        for r in session.scalars(
            select(Report).where(Report.phone == phone).order_by(Report.id.desc()).limit(LIMIT)
        )
    ]
    texts = [
        NumberText(m.received_at, "in", m.body, m.kind)
        for m in session.scalars(
            select(InboundMessage)
            .where(InboundMessage.phone == phone)
            .order_by(InboundMessage.id.desc())
            .limit(LIMIT)
        )
    ]
    texts += [
        NumberText(
            o.sent_at or o.created_at,
            "out",
            o.body,
            f"{o.purpose} · {o.state}" + (f" ({o.detail})" if o.detail else ""),
        )
        for o in session.scalars(
            select(OutboundText)
            .where(OutboundText.phone == phone)
            .order_by(OutboundText.id.desc())
            .limit(LIMIT)
        )
    ]
    texts.sort(key=lambda t: t.at, reverse=True)
    state = consent_states(session, [phone])[phone]
    history = [(c.at, c.keyword, c.opted_in, c.how) for c in consent_history(session, phone)]
    return NumberInfo(
        phone, links, reports, texts, may_send(state, None, Purpose.LINK_CONFIRMATION), history
    )


def _t(at: datetime | None) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at else "—"


def _grid(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th align='left'>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table cellspacing='0' cellpadding='3' width='100%'><tr>{head}</tr>{body}</table>"


def diagnosis(info: NumberInfo) -> str:
    """One sentence on why this number's reports got (or did not get) a ticket."""
    if not info.reports:
        return "No outage report from this number."
    waiting = [r for r in info.reports if r.ticket_id is None]
    if not waiting:
        return "Every report from this number has a ticket."
    states = {r.state for r in waiting}
    if not info.links and states & {"unlinked", "held"}:
        return (
            f"{len(waiting)} report(s) without a ticket: the number is linked to no account and "
            "the OMS does not know it. Link it (Ctrl+K on the report) to re-send."
        )
    if states & {"queued", "retrying"}:
        return f"{len(waiting)} report(s) waiting in the outbox for the OMS (queued or retrying)."
    if "rejected" in states:
        return "The OMS rejected a report: see its message below."
    return f"{len(waiting)} report(s) without a ticket ({', '.join(sorted(states))})."


def render(info: NumberInfo) -> str:
    parts = [f"<p><b>{escape(diagnosis(info))}</b></p>"]
    consent = (
        "opted in (texts may be sent)" if info.may_text else "OPTED OUT: no texts but STOP/HELP"
    )
    parts.append(f"<h3>Consent</h3><p>{escape(consent)}</p>")
    if info.consent:
        parts.append(
            _grid(
                ["When", "Keyword", "State", "How"],
                [
                    [_t(at), kw, "opted in" if ok else "opted out", how]
                    for at, kw, ok, how in info.consent
                ],
            )
        )
    parts.append("<h3>Reports and tickets</h3>")
    if info.reports:
        parts.append(
            _grid(
                ["Received", "Report", "Rev.", "State", "Ticket", "Account", "Level", "OMS"],
                [
                    [
                        _t(r.received_at),
                        r.report_id,
                        str(r.revision),
                        r.state,
                        r.ticket_id or "—",
                        r.account_number or "not linked",
                        r.resolved_level,
                        r.oms_message or "",
                    ]
                    for r in info.reports
                ],
            )
        )
    else:
        parts.append("<p>None.</p>")
    parts.append("<h3>Texts (in and out)</h3>")
    if info.texts:
        parts.append(
            _grid(
                ["When", "Dir.", "Text", "Kind / state"],
                [[_t(t.at), t.direction, t.body[:160], t.what] for t in info.texts],
            )
        )
    else:
        parts.append("<p>None.</p>")
    return "".join(parts)


class NumberPanel(QDialog):
    """Enter or select a phone number; see its links, reports, tickets, texts and consent."""

    loaded = Signal()
    linkRemoved = Signal(str)

    def __init__(
        self,
        *,
        worker: DbWorker,
        sessions: sessionmaker[Session],
        actor: Actor,
        phone: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.sessions = sessions
        self.actor = actor
        self.info: NumberInfo | None = None
        self.phone: str | None = None
        self.confirm_box: QMessageBox | None = None
        self.setObjectName("numberPanel")
        self.setWindowTitle("Number")
        self.setAccessibleName("Number panel")
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        label = QLabel("&Phone number:", self)
        self.input = QLineEdit(self)
        self.input.setObjectName("numberInput")
        self.input.setAccessibleName("Phone number to look up")
        self.input.setPlaceholderText("e.g. (208) 555-0150, then Enter")
        label.setBuddy(self.input)
        self.show_button = QPushButton("&Show", self)
        self.show_button.setObjectName("numberShowButton")
        self.show_button.setAccessibleName("Show this number")
        self.show_button.setAutoDefault(False)
        row.addWidget(label)
        row.addWidget(self.input, 1)
        row.addWidget(self.show_button)
        layout.addLayout(row)
        self.title = QLabel(self)
        self.title.setObjectName("numberTitle")
        layout.addWidget(self.title)

        layout.addWidget(QLabel("Links of this number:", self))
        self.links = QTableWidget(0, 4, self)
        self.links.setObjectName("numberLinks")
        self.links.setAccessibleName("Links of this number")
        self.links.setHorizontalHeaderLabels(["Account", "Location", "Address", "Source"])
        self.links.verticalHeader().hide()
        self.links.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.links.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.links.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.links.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.links.setMaximumHeight(140)
        layout.addWidget(self.links)
        undo = QHBoxLayout()
        self.remove_button = QPushButton("&Remove link…", self)
        self.remove_button.setObjectName("removeLinkButton")
        self.remove_button.setAccessibleName("Remove the selected link")
        self.remove_button.setAutoDefault(False)
        self.remove_button.setEnabled(False)
        undo.addWidget(self.remove_button)
        undo.addStretch(1)
        layout.addLayout(undo)

        self.details = QTextBrowser(self)
        self.details.setObjectName("numberDetails")
        self.details.setAccessibleName("Reports, tickets, texts and consent of this number")
        layout.addWidget(self.details, 1)
        self.status = QLabel(self)
        self.status.setObjectName("numberStatus")
        self.status.setAccessibleName("Number panel status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        self.input.returnPressed.connect(self.lookup)
        self.show_button.clicked.connect(self.lookup)
        self.remove_button.clicked.connect(self.ask_remove)
        self.links.itemSelectionChanged.connect(
            lambda: self.remove_button.setEnabled(bool(self.links.selectedItems()))
        )
        self.resize(900, 640)
        self.input.setFocus(Qt.FocusReason.OtherFocusReason)
        if phone:
            self.input.setText(format_phone(phone))
            self.lookup()

    def lookup(self) -> None:
        raw = self.input.text().strip()
        try:
            phone = normalize_phone(raw)
        except InvalidPhoneError as exc:
            self.status.setText(f"⚠ {exc}")
            return
        self.phone = phone
        self.status.setText("Loading…")
        self.reload()

    def reload(self) -> None:
        if self.phone is not None:
            self.worker.submit(partial(load_number, self.phone), self._on_loaded)

    def _on_loaded(self, info: NumberInfo) -> None:
        if info.phone != self.phone:
            return
        self.info = info
        self.title.setText(f"<b>{escape(format_phone(info.phone))}</b> ({escape(info.phone)})")
        self.setWindowTitle(f"Number {format_phone(info.phone)}")
        self.links.setRowCount(len(info.links))
        for i, link in enumerate(info.links):
            cells = [
                link.account_number,
                link.service_location_id or "all locations (Address level)",
                link.service_address or "—",
                link.source,
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, link.link_id)
                self.links.setItem(i, col, item)
        if info.links:
            self.links.selectRow(0)
        self.remove_button.setEnabled(bool(info.links))
        self.details.setHtml(render(info))
        self.status.setText(diagnosis(info))
        self.loaded.emit()

    def selected_link(self) -> CurrentLink | None:
        if self.info is None:
            return None
        row = self.links.currentRow()
        return self.info.links[row] if 0 <= row < len(self.info.links) else None

    def ask_remove(self) -> None:
        link = self.selected_link()
        if link is None or self.phone is None:
            return
        box = QMessageBox(self)
        box.setObjectName("removeLinkConfirm")
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Remove link")
        box.setText(f"Remove the link of {format_phone(self.phone)} to {link.describe()}?")
        box.setInformativeText(
            "The removal is recorded in the audit log. Reports already sent are not changed."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(partial(self._on_confirm, link, box))
        self.confirm_box = box
        box.open()

    def _on_confirm(self, link: CurrentLink, box: QMessageBox, code: int) -> None:
        self.confirm_box = None
        if code != QMessageBox.StandardButton.Yes.value:
            return
        self.status.setText("Removing the link…")
        submit_write(
            self.worker,
            self.sessions,
            lambda s: unlink(s, self.actor, link.link_id),
            partial(self._on_removed, link),
        )

    def _on_removed(self, link: CurrentLink, result: Any) -> None:
        if isinstance(result, Failure):
            self.status.setText(f"⚠ {result.message}")
            return
        text = f"Link removed: {link.describe()} (audited)."
        self.status.setText(text)
        self.linkRemoved.emit(text)
        self.reload()


__all__ = ["NumberPanel", "diagnosis", "load_number"]
