"""The link dialog: link an unlinked number to an account (or one location) and re-send.

Opened with ``show()`` (non-modal), so the feed keeps updating behind it. Every database
read and write runs on the window's worker thread (``DbWorker``); writes open their own
session on the shared engine, one transaction per operation, as the operations require.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from PySide6.QtCore import (
    QEvent,
    QObject,
    Qt,
    Signal,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outagedesk.domain.consent import Purpose, may_send
from outagedesk.domain.phones import format_phone
from outagedesk.domain.replies import ReplyPolicy
from outagedesk.ops.base import Actor, OperationError, Role
from outagedesk.ops.links import LinkOutcome, link_phone
from outagedesk.ops.resend import Resent, resend_reports
from outagedesk.store.models import PhoneLink, Report, ServiceLocation
from outagedesk.store.outbound import TextState, consent_states, queue_text, text_key
from outagedesk.store.search import LocationHit, suggest_for_message
from outagedesk.ui.directory_picker import ALL_LOCATIONS, DirectoryPicker
from outagedesk.ui.worker import DbWorker

log = logging.getLogger(__name__)

T = TypeVar("T")


def actor_for(desk: str, role: Role) -> Actor:
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container): still audit something
        name = "dispatcher"
    return Actor(name, desk, role)


@dataclass(frozen=True)
class Failure:
    """An operation refused (OperationError) or failed; ``message`` is for the dispatcher."""

    message: str


def submit_write(
    worker: DbWorker,
    sessions: sessionmaker[Session],
    fn: Callable[[Session], T],
    on_done: Callable[[T | Failure], None],
) -> None:
    """Run a write operation on the worker thread in a session of its own (it commits)."""

    def job(_reader: Session) -> T | Failure:
        try:
            with sessions() as session:
                return fn(session)
        except OperationError as exc:
            return Failure(str(exc))
        except Exception as exc:
            log.exception("a write from the window failed")
            return Failure(f"The database refused the change: {str(exc).splitlines()[0]}")

    worker.submit(job, on_done)


# -- what the dialog links --------------------------------------------------------------------
@dataclass(frozen=True)
class ReportRef:
    """The report the dialog was opened on (plain data, built from ``feed.details``)."""

    phone: str
    body: str
    report_pk: int | None = None
    report_id: str | None = None
    revision: int = 1
    state: str | None = None


@dataclass(frozen=True)
class CurrentLink:
    link_id: int
    account_number: str
    service_location_id: str | None
    service_address: str | None
    source: str

    def describe(self) -> str:
        where = (
            f"{self.service_location_id} · {self.service_address or ''}".rstrip(" ·")
            if self.service_location_id
            else "all locations (Address level)"
        )
        return f"account {self.account_number} · {where} ({self.source})"


@dataclass(frozen=True)
class Context:
    suggestions: list[LocationHit]
    links: list[CurrentLink]
    may_text: bool
    opted_out: bool
    unticketed: int


def load_context(phone: str, body: str, session: Session) -> Context:
    suggestions = suggest_for_message(session, phone, body, limit=10)
    links = current_links(session, phone)
    state = consent_states(session, [phone])[phone]
    may_text = may_send(state, None, Purpose.LINK_CONFIRMATION)
    unticketed = len(
        session.scalars(
            select(Report.id).where(Report.phone == phone, Report.ticket_id.is_(None))
        ).all()
    )
    return Context(suggestions, links, may_text, not may_text, unticketed)


def current_links(session: Session, phone: str) -> list[CurrentLink]:
    rows = session.execute(
        select(
            PhoneLink.id,
            PhoneLink.account_number,
            PhoneLink.service_location_id,
            ServiceLocation.service_address,
            PhoneLink.source,
        )
        .select_from(PhoneLink)
        .outerjoin(
            ServiceLocation,
            ServiceLocation.service_location_id == PhoneLink.service_location_id,
        )
        .where(PhoneLink.phone == phone)
        .order_by(PhoneLink.id)
    ).all()
    return [CurrentLink(*r) for r in rows]


@dataclass
class LinkResult:
    outcome: LinkOutcome | None
    resent: list[Resent]
    reply_state: str | None = None
    reply_body: str | None = None
    notes: list[str] = field(default_factory=list)


def do_link(
    actor: Actor,
    ref: ReportRef,
    account: str,
    location: str | None,
    replace: Sequence[int],
    resend: bool,
    reply: str | None,
    session: Session,
) -> LinkResult:
    outcome = link_phone(
        session, actor, ref.phone, account, location, replace=list(replace), resend=resend
    )
    result = LinkResult(outcome, list(outcome.resent))
    if reply is not None:
        revision = next(
            (r.revision for r in outcome.resent if r.report_pk == ref.report_pk), ref.revision
        )
        extra = f"{ref.report_id or ref.phone}.{revision}"
        text = queue_text(
            session,
            phone=ref.phone,
            body=reply,
            purpose=Purpose.LINK_CONFIRMATION,
            keyword=None,
            in_reply_to=None,
            key=text_key(None, Purpose.LINK_CONFIRMATION, extra),
        )
        result.reply_state = text.state
        result.reply_body = text.body
        session.commit()
    return result


def do_resend(actor: Actor, report_pks: Sequence[int], session: Session) -> LinkResult:
    return LinkResult(None, resend_reports(session, actor, list(report_pks)))


def describe_result(result: LinkResult, phone: str) -> str:
    parts = []
    outcome = result.outcome
    if outcome is not None:
        if outcome.created:
            parts.append(f"Linked {format_phone(phone)}")
        else:
            parts.append(f"{format_phone(phone)} was already linked there")
        if outcome.removed:
            parts.append(f"{len(outcome.removed)} old link(s) removed")
    if result.resent:
        revs = ", ".join(f"{r.report_id} revision {r.revision}" for r in result.resent)
        parts.append(f"re-sent to the OMS: {revs} queued")
    else:
        parts.append("no report re-sent")
    if result.reply_state == TextState.BLOCKED:
        parts.append("confirmation text NOT sent: the number has opted out")
    elif result.reply_state is not None:
        parts.append("confirmation text queued")
    return "; ".join(parts) + "."


# -- the dialog -------------------------------------------------------------------------------
class LinkDialog(QDialog):
    """Search the directory, pick a location, link the number and re-send its reports."""

    linked = Signal(str)
    """A summary of what was done, for the window's status bar."""
    contextLoaded = Signal()
    resultsShown = Signal()

    def __init__(
        self,
        ref: ReportRef,
        *,
        worker: DbWorker,
        sessions: sessionmaker[Session],
        actor: Actor,
        policy: ReplyPolicy | None = None,
        wake: Callable[[], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ref = ref
        self.worker = worker
        self.sessions = sessions
        self.actor = actor
        self.policy = policy or ReplyPolicy()
        self.wake = wake
        self.context: Context | None = None
        self.busy = False
        self.last_summary = ""
        self.setObjectName("linkDialog")
        phone = format_phone(ref.phone)
        self.setWindowTitle(f"Link {phone}")
        self.setAccessibleName(f"Link {phone} to an account")
        self._build(phone)
        self.picker.resultsShown.connect(self.resultsShown)
        self.picker.chosen.connect(self.link_and_resend)
        self.location.currentIndexChanged.connect(lambda _i: self._update_preview())
        self.confirm.toggled.connect(lambda _c: self._update_preview())
        self.link_resend_button.clicked.connect(self.link_and_resend)
        self.link_only_button.clicked.connect(self.link_only)
        self.resend_only_button.clicked.connect(self.resend_only)
        self.close_button.clicked.connect(self.reject)
        self.resize(1100, 640)
        self._set_status("Loading suggestions…")
        self.worker.submit(partial(load_context, ref.phone, ref.body), self._on_context)

    # -- building ------------------------------------------------------------------------------
    def _build(self, phone: str) -> None:
        layout = QVBoxLayout(self)
        head = QLabel(f"<h3 style='margin:0'>Link {phone} to an account</h3>", self)
        head.setObjectName("linkPhone")
        head.setAccessibleName(f"Phone number {phone}")
        layout.addWidget(head)
        said = QLabel("The customer wrote:", self)
        layout.addWidget(said)
        self.body = QPlainTextEdit(self.ref.body or "(empty text)", self)
        self.body.setObjectName("linkCustomerText")
        self.body.setAccessibleName("What the customer wrote")
        self.body.setReadOnly(True)
        self.body.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.body.setMaximumHeight(52)
        layout.addWidget(self.body)

        self.picker = DirectoryPicker(
            self.worker,
            prefix="link",
            search_name="Search the account directory",
            search_hint="Account, location ID, meter, name, address or phone…  (↑/↓ pick, "
            "Enter = Link & re-send, Alt+L = Link only, Esc closes)",
            location_name="Service location to link",
            location_text=lambda hit: (
                f"{hit.service_location_id} · {hit.service_address}"
                + (" · meter " + hit.meter_id if hit.meter_id else "")
            ),
            all_locations_text=lambda hit: (
                f"All locations of this account ({hit.account_locations}) (Address level)"
            ),
            suggests=True,
            parent=self,
        )
        self.search = self.picker.search
        self.search.setAccessibleDescription(
            "Account, service location, meter, name, address or phone; "
            "Up and Down pick a result, Enter links and re-sends"
        )
        self.search.installEventFilter(self)
        self.results_label = self.picker.results_label
        self.model = self.picker.model
        results = self.picker.results
        row_height = results.fontMetrics().height() + 8
        results.verticalHeader().setMinimumSectionSize(row_height)
        results.verticalHeader().setDefaultSectionSize(row_height)
        self.location = self.picker.location
        layout.addWidget(self.picker, 1)

        self.existing = QWidget(self)
        self.existing.setObjectName("linkExisting")
        ex_layout = QHBoxLayout(self.existing)
        ex_layout.setContentsMargins(0, 0, 0, 0)
        self.existing_label = QLabel(self.existing)
        self.existing_label.setObjectName("linkExistingNote")
        self.existing_label.setWordWrap(True)
        self.existing_label.setStyleSheet("color: #b45309; font-weight: bold;")
        self.add_radio = QRadioButton("A&dd this link (keep the others)", self.existing)
        self.add_radio.setObjectName("linkAddRadio")
        self.add_radio.setAccessibleName("Add this link and keep the existing ones")
        self.move_radio = QRadioButton("&Move: replace the existing link(s)", self.existing)
        self.move_radio.setObjectName("linkMoveRadio")
        self.move_radio.setAccessibleName("Move: remove the existing links")
        self.add_radio.setChecked(True)
        group = QButtonGroup(self.existing)
        group.addButton(self.add_radio)
        group.addButton(self.move_radio)
        ex_layout.addWidget(self.existing_label, 1)
        ex_layout.addWidget(self.add_radio)
        ex_layout.addWidget(self.move_radio)
        self.existing.hide()
        layout.addWidget(self.existing)

        self.confirm = QCheckBox("&Text the customer a confirmation", self)
        self.confirm.setObjectName("linkConfirmText")
        self.confirm.setAccessibleName("Text the customer a confirmation after linking")
        layout.addWidget(self.confirm)
        self.preview = QLabel(self)
        self.preview.setObjectName("linkReplyPreview")
        self.preview.setWordWrap(True)
        self.preview.setStyleSheet("font-style: italic;")
        layout.addWidget(self.preview)

        self.status = QLabel(self)
        self.status.setObjectName("linkStatus")
        self.status.setAccessibleName("Link status")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.link_resend_button = QPushButton("Link && &re-send", self)
        self.link_resend_button.setObjectName("linkAndResendButton")
        self.link_resend_button.setAccessibleName("Link and re-send")
        self.link_resend_button.setToolTip("Link the number and re-send its reports (Enter)")
        self.link_resend_button.setDefault(True)
        self.link_only_button = QPushButton("&Link only", self)
        self.link_only_button.setObjectName("linkOnlyButton")
        self.link_only_button.setAccessibleName("Link only, do not re-send")
        self.link_only_button.setAutoDefault(False)
        self.resend_only_button = QPushButton("Re-send &only", self)
        self.resend_only_button.setObjectName("resendOnlyButton")
        self.resend_only_button.setAccessibleName("Re-send this report only, no link")
        self.resend_only_button.setAutoDefault(False)
        self.resend_only_button.setEnabled(self.ref.report_pk is not None)
        self.close_button = QPushButton("Close", self)
        self.close_button.setObjectName("linkCloseButton")
        self.close_button.setAccessibleName("Close")
        self.close_button.setAutoDefault(False)
        for b in (
            self.link_resend_button,
            self.link_only_button,
            self.resend_only_button,
            self.close_button,
        ):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.search.setFocus(Qt.FocusReason.OtherFocusReason)
        self.picker.hitChanged.connect(self._hit_changed)
        self.picker.update_location()

    # -- keyboard ------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            key = event.key()
            if key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown):  # ↑/↓ are the picker's
                self.picker.move_selection(1 if key == Qt.Key.Key_PageDown else -1)
                return True
            if key == Qt.Key.Key_L and event.modifiers() == Qt.KeyboardModifier.AltModifier:
                # The button's mnemonic, for when the shortcut map did not see the key.
                self.link_only()
                return True
        return super().eventFilter(watched, event)

    def select_row(self, row: int) -> None:
        self.picker.select_row(row)

    # -- loading -------------------------------------------------------------------------------
    def _on_context(self, context: Context) -> None:
        self.context = context
        if context.links:
            lines = "; ".join(link.describe() for link in context.links)
            self.existing_label.setText(f"⚠ This number is already linked to: {lines}")
            self.existing_label.setAccessibleName(self.existing_label.text())
            self.existing.show()
        if context.opted_out:
            self.confirm.setChecked(False)
            self.confirm.setEnabled(False)
            self.confirm.setText("Text the customer a confirmation (not possible: opted out)")
        self.picker.set_suggestions(context.suggestions)
        self._set_status(
            f"{context.unticketed} report(s) from this number have no ticket yet."
            if context.unticketed
            else "Every report from this number has a ticket."
        )
        self.contextLoaded.emit()

    # -- choosing ------------------------------------------------------------------------------
    def current_hit(self) -> LocationHit | None:
        return self.picker.current_hit()

    def _hit_changed(self) -> None:
        hit = self.current_hit()
        self.link_resend_button.setEnabled(hit is not None and not self.busy)
        self.link_only_button.setEnabled(hit is not None and not self.busy)
        self._update_preview()

    def choose_all_locations(self) -> None:
        self.picker.choose_all_locations()

    def chosen_location(self) -> str | None:
        return self.picker.chosen_location()

    def reply_text(self) -> str:
        hit = self.current_hit()
        if hit is None:
            address = "your account"
        elif self.location.currentData() == ALL_LOCATIONS:
            address = f"account {hit.account_number}"
        else:
            address = hit.service_address
        return self.policy.render(Purpose.LINK_CONFIRMATION, address=address)

    def _update_preview(self) -> None:
        if self.context is not None and self.context.opted_out:
            self.preview.setText("No confirmation: this number has opted out of texts.")
        elif self.confirm.isChecked():
            self.preview.setText(f"Will send: “{self.reply_text()}”")
        else:
            self.preview.setText(f"Preview: “{self.reply_text()}”")
        self.preview.setAccessibleName(self.preview.text())

    # -- acting --------------------------------------------------------------------------------
    def link_and_resend(self) -> None:
        self._link(resend=True)

    def link_only(self) -> None:
        self._link(resend=False)

    def _link(self, *, resend: bool) -> None:
        if self.busy:
            return
        hit = self.current_hit()
        if hit is None:
            self._set_status("Pick a service location first (type to search, ↑/↓ to pick).", True)
            return
        location = self.chosen_location()
        replace: list[int] = []
        if self.context is not None and self.existing.isVisible() and self.move_radio.isChecked():
            replace = [
                link.link_id
                for link in self.context.links
                if (link.account_number, link.service_location_id) != (hit.account_number, location)
            ]
        reply = self.reply_text() if self.confirm.isChecked() and self.confirm.isEnabled() else None
        self._set_busy(True, "Linking…")
        submit_write(
            self.worker,
            self.sessions,
            partial(
                do_link,
                self.actor,
                self.ref,
                hit.account_number,
                location,
                replace,
                resend,
                reply,
            ),
            self._on_done,
        )

    def resend_only(self) -> None:
        if self.busy or self.ref.report_pk is None:
            return
        self._set_busy(True, "Re-sending…")
        submit_write(
            self.worker,
            self.sessions,
            partial(do_resend, self.actor, [self.ref.report_pk]),
            self._on_done,
        )

    def _on_done(self, result: LinkResult | Failure) -> None:
        self._set_busy(False)
        if isinstance(result, Failure):
            self._set_status(result.message, True)
            return
        queued_text = result.reply_state not in (None, TextState.BLOCKED)
        if (result.resent or queued_text) and self.wake is not None:
            self.wake()
        self.last_summary = describe_result(result, self.ref.phone)
        self._set_status(self.last_summary)
        self.linked.emit(self.last_summary)
        self.accept()

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.busy = busy
        for b in (self.link_resend_button, self.link_only_button, self.resend_only_button):
            b.setEnabled(not busy)
        if not busy:
            self.picker.update_location()
            self.resend_only_button.setEnabled(self.ref.report_pk is not None)
        if text:
            self._set_status(text)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(("⚠ " if error else "") + text)
        self.status.setProperty("error", error)
        self.status.setStyleSheet("color: #dc2626; font-weight: bold;" if error else "")
        self.status.setAccessibleDescription(self.status.text())


__all__ = [
    "ALL_LOCATIONS",
    "Failure",
    "LinkDialog",
    "ReportRef",
    "actor_for",
    "current_links",
    "submit_write",
]
