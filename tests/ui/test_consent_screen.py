"""Check Opt-In / Force Opt-Out: against the real window, engine and simulator gateway.

The gateway's view is fetched with httpx on the qasync loop, so each test drives the window
from a coroutine on a ``qasync.QEventLoop`` (as the application runs) and waits with
``asyncio.sleep``, never with a nested Qt event loop.
"""

from __future__ import annotations

import asyncio
import csv
import re
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractButton, QMessageBox, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from outagedesk.sim import Simulator
from outagedesk.store.models import AuditEntry, ConsentRecord, utcnow
from outagedesk.ui.consent_screen import DIFF_MARK, K_GW, K_KEYWORD, K_OURS, ConsentScreen
from outagedesk.ui.feed_model import C_TEXT
from outagedesk.ui.main_window import MainWindow
from ui.uisupport import UNLINKED

WAIT = 20.0


def drive(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> None:
    loop.run_until_complete(asyncio.wait_for(coro, 90))


async def until(pred: Callable[[], object], limit: float = WAIT, what: str = "") -> None:
    deadline = time.monotonic() + limit
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.05)


def records_of(window: MainWindow, phone: str) -> list[ConsentRecord]:
    with window.backend.db.sessions() as s:
        return list(
            s.scalars(
                select(ConsentRecord).where(ConsentRecord.phone == phone).order_by(ConsentRecord.id)
            )
        )


def trigger(window: MainWindow, name: str) -> None:
    action = window.findChild(QAction, name)
    assert action is not None, name
    action.trigger()


def cells(screen: ConsentScreen, keyword_label: str) -> list[str]:
    table = screen.keywords
    for row in range(table.rowCount()):
        item = table.item(row, K_KEYWORD)
        if item is not None and item.text() == keyword_label:
            return [
                (it.text() if (it := table.item(row, c)) is not None else "")
                for c in range(table.columnCount())
            ]
    raise AssertionError(f"no row {keyword_label!r}")


def history(screen: ConsentScreen) -> list[list[str]]:
    t = screen.history
    return [
        [(it.text() if (it := t.item(r, c)) is not None else "") for c in range(t.columnCount())]
        for r in range(t.rowCount())
    ]


async def open_screen(
    window: MainWindow, qtbot: QtBot, phone: str | None = None, *, typed: str | None = None
) -> ConsentScreen:
    if phone is None:
        trigger(window, "actionConsent")
    else:
        window.show_consent_screen(phone)
    screen = window.consent_screen
    assert screen is not None
    assert screen.objectName() == "consentScreen"
    if typed is not None:
        screen.input.clear()
        qtbot.keyClicks(screen.input, typed)
        qtbot.keyClick(screen.input, Qt.Key.Key_Return)
    await settled(screen)
    return screen


async def settled(screen: ConsentScreen) -> None:
    await until(lambda: screen.info is not None and screen.gateway is not None, what="load")
    await until(lambda: not screen.gateway_busy and screen.worker.pending == 0, what="idle")


async def texted(window: MainWindow, sim: Simulator, phone: str, body: str, n: int) -> None:
    sim.gateway.add_message(from_=phone, body=body)
    await until(lambda: len(records_of(window, phone)) >= n, what=f"{body} recorded")


async def close_screen(screen: ConsentScreen) -> None:
    screen.close()
    await until(lambda: not screen.gateway_busy, what="gateway task ended")
    await asyncio.sleep(0.05)


def test_out_then_stop_shows_opted_out_and_the_gateway_agrees(
    qtbot: QtBot,
    window: MainWindow,
    sim: Simulator,
    linked_phone: str,
    qloop: asyncio.AbstractEventLoop,
    qtmodeltester: Any,
) -> None:
    async def run() -> None:
        await texted(window, sim, linked_phone, "OUT", 1)
        await texted(window, sim, linked_phone, "STOP", 2)
        screen = await open_screen(window, qtbot, typed=linked_phone)
        assert screen.phone == linked_phone
        assert screen.findChild(QWidget, "consentNumber") is screen.input
        out = cells(screen, "OUT")
        assert out[K_OURS] == "opted out"
        assert out[K_GW] == "opted out"
        assert DIFF_MARK not in "".join(out)
        assert "agrees" in screen.gateway_status.text()
        rows = history(screen)
        assert len(rows) == 2
        assert rows[0][1:3] == ["OUT", "in"]
        assert rows[0][5] == "OUT"
        assert rows[1][1:3] == ["all", "out"]
        assert rows[1][5] == "STOP"
        assert sim.gateway.optin_entry(linked_phone) is not None
        qtmodeltester.check(screen.keywords.model())
        qtmodeltester.check(screen.history.model())
        unnamed = [
            w.objectName() or type(w).__name__
            for w in screen.findChildren(QWidget)
            if w.focusPolicy() != Qt.FocusPolicy.NoFocus
            and w.isVisible()
            and not w.accessibleName()
            and w.parent() is not None
            and w.objectName() not in ("", "qt_scrollarea_viewport")
        ]
        assert unnamed == []
        await close_screen(screen)

    drive(qloop, run())
    assert window.errors == []


def test_force_opt_out_of_one_keyword_is_recorded_audited_and_sent(
    qtbot: QtBot,
    window: MainWindow,
    sim: Simulator,
    linked_phone: str,
    qloop: asyncio.AbstractEventLoop,
) -> None:
    async def run() -> None:
        await texted(window, sim, linked_phone, "OUT", 1)
        screen = await open_screen(window, qtbot, linked_phone)
        assert cells(screen, "OUT")[K_OURS] == "opted in"
        assert cells(screen, "OUT")[K_GW] == "opted in"
        screen.choose_keyword("OUT")
        assert screen.keyword_choice.currentData() == "OUT"
        qtbot.keyClicks(screen.reason, "asked by phone")
        qtbot.mouseClick(screen.force_button, Qt.MouseButton.LeftButton)
        box = screen.confirm_box
        assert box is not None
        assert "out of keyword OUT" in box.text()
        box.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: "Opted out of OUT" in screen.status.text(), what="forced")
        assert "the gateway will be told" in screen.status.text()

        def told() -> bool:
            return any(
                r["phone"] == linked_phone and r["keyword"] == "OUT"
                for r in sim.gateway.opt_out_requests
            )

        await until(told, what="the gateway told")
        await until(
            lambda: (
                cells(screen, "OUT")[K_GW] == "opted out"
                and cells(screen, "OUT")[K_OURS] == "opted out"
            ),
            what="the gateway's view updated",
        )
        assert "agrees" in screen.gateway_status.text()
        assert len(history(screen)) == 2
        assert history(screen)[1][1:3] == ["OUT", "out"]
        assert history(screen)[1][3].startswith("forced by")
        await until(lambda: not screen.gateway_busy and screen.worker.pending == 0)
        await close_screen(screen)

    drive(qloop, run())
    records = records_of(window, linked_phone)
    assert [(r.keyword, r.opted_in, r.how) for r in records] == [
        ("OUT", True, records[0].how),
        ("OUT", False, "forced"),
    ]
    with window.backend.db.sessions() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent_force_opt_out")
        ).one()
    assert entry.subject == linked_phone
    assert entry.after is not None
    assert entry.after["reason"] == "asked by phone"
    assert "Opted out of OUT" in window.statusBar().currentMessage()


def test_a_reason_is_required(
    qtbot: QtBot,
    window: MainWindow,
    sim: Simulator,
    linked_phone: str,
    qloop: asyncio.AbstractEventLoop,
) -> None:
    async def run() -> None:
        await texted(window, sim, linked_phone, "OUT", 1)
        screen = await open_screen(window, qtbot, linked_phone)
        screen.reason.setText("   ")
        qtbot.mouseClick(screen.force_button, Qt.MouseButton.LeftButton)
        assert screen.confirm_box is None
        assert "reason is required" in screen.status.text()
        await asyncio.sleep(0.3)
        await close_screen(screen)

    drive(qloop, run())
    assert len(records_of(window, linked_phone)) == 1
    assert sim.gateway.opt_out_requests == []


def test_differences_are_highlighted(
    qtbot: QtBot,
    window: MainWindow,
    sim: Simulator,
    linked_phone: str,
    qloop: asyncio.AbstractEventLoop,
) -> None:
    async def run() -> None:
        # Ours says opted out (recorded, not yet passed on); the gateway says opted in.
        await texted(window, sim, linked_phone, "OUT", 1)
        with window.backend.db.sessions() as s:
            s.add(
                ConsentRecord(
                    phone=linked_phone, keyword="OUT", opted_in=False, at=utcnow(),
                    how="forced", actor="someone", tags=[],
                )
            )  # fmt: skip
            s.commit()
        screen = await open_screen(window, qtbot, linked_phone)
        out = cells(screen, "OUT")
        assert out[K_OURS] == "opted out"
        assert out[K_GW] == f"{DIFF_MARK} opted in"
        assert DIFF_MARK in screen.gateway_status.text()
        row = next(
            r for r in range(screen.keywords.rowCount())
            if (it := screen.keywords.item(r, K_KEYWORD)) is not None and it.text() == "OUT"
        )  # fmt: skip
        item = screen.keywords.item(row, K_GW)
        assert item is not None
        assert item.background().color().name() == "#f8d7da"

        # A number the gateway has never seen: 404, said so, and our opt-out marked.
        screen.input.clear()
        qtbot.keyClicks(screen.input, UNLINKED)
        qtbot.keyClick(screen.input, Qt.Key.Key_Return)
        await settled(screen)
        assert screen.phone == UNLINKED
        assert "never seen" in screen.gateway_status.text()
        assert "404" in screen.gateway_status.text()
        assert screen.keywords.rowCount() == 0
        qtbot.keyClicks(screen.reason, "wrong number, says the owner")
        screen.ask_force()
        box = screen.confirm_box
        assert box is not None
        assert "every keyword" in box.text()
        box.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: "Opted out of every keyword" in screen.status.text())
        await until(lambda: screen.keywords.rowCount() == 1, what="the all row")
        await until(lambda: not screen.gateway_busy and screen.worker.pending == 0)
        row_all = cells(screen, "(any other keyword)")
        assert row_all[K_OURS] == "opted out"
        assert row_all[K_GW] == f"{DIFF_MARK} never seen"
        await close_screen(screen)

    drive(qloop, run())


def test_export_writes_the_records_in_range(
    qtbot: QtBot,
    window: MainWindow,
    sim: Simulator,
    linked_phone: str,
    qloop: asyncio.AbstractEventLoop,
    tmp_path: Path,
) -> None:
    out = tmp_path / "consent.csv"
    empty = tmp_path / "empty.csv"

    async def run() -> None:
        await texted(window, sim, linked_phone, "OUT", 1)
        await texted(window, sim, linked_phone, "STOP", 2)
        screen = await open_screen(window, qtbot, linked_phone)
        today = QDate.currentDate()
        screen.export_from.setDate(today)
        screen.export_to.setDate(today)
        qtbot.mouseClick(screen.export_button, Qt.MouseButton.LeftButton)
        assert "Choose a file" in screen.status.text()
        screen.export_path.setText(str(out))
        qtbot.mouseClick(screen.export_button, Qt.MouseButton.LeftButton)
        await until(lambda: screen.status.text().startswith("Exported"), what="export")
        assert "Exported 2 consent record(s)" in screen.status.text()
        # A range before the records: the header only.
        screen.export_from.setDate(today.addDays(-10))
        screen.export_to.setDate(today.addDays(-2))
        screen.export_path.setText(str(empty))
        screen.export()
        await until(lambda: "Exported 0" in screen.status.text(), what="empty export")
        await close_screen(screen)

    drive(qloop, run())
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["phone"], r["keyword"], r["state"]) for r in rows] == [
        (linked_phone, "OUT", "opted_in"),
        (linked_phone, "all", "opted_out"),
    ]
    assert rows[1]["message"] == "STOP"
    assert empty.read_text(encoding="utf-8").splitlines() == [
        "at,phone,keyword,state,how,actor,message_id,message,tags"
    ]


OPT_IN = re.compile(r"opt[\s-]*in\b", re.IGNORECASE)


def test_there_is_no_opt_in_control(
    qtbot: QtBot, window: MainWindow, qloop: asyncio.AbstractEventLoop
) -> None:
    async def run() -> None:
        screen = await open_screen(window, qtbot, UNLINKED)
        texts = [b.text() for b in screen.findChildren(QAbstractButton)]
        texts += [a.text() for a in window.findChildren(QAction)]
        texts += [a.text() for a in screen.findChildren(QAction)]
        texts += [screen.keyword_choice.itemText(i) for i in range(screen.keyword_choice.count())]
        offending = [
            t for t in texts if OPT_IN.search(t.replace("&", "").lower().replace("check opt", ""))
        ]
        assert offending == []
        note = screen.findChild(QWidget, "consentNoOptInNote")
        assert note is not None
        assert "only the customer can opt back in" in note.text()  # type: ignore[attr-defined]
        assert "START" in note.text()  # type: ignore[attr-defined]
        await close_screen(screen)

    drive(qloop, run())


def test_a_flagged_revocation_offers_confirm_as_opt_out(
    qtbot: QtBot,
    window: MainWindow,
    sim: Simulator,
    linked_phone: str,
    qloop: asyncio.AbstractEventLoop,
) -> None:
    body = "please stop texting me"

    def row_of() -> int | None:
        m = window.model
        for i in range(m.rowCount()):
            if m.row_tuple(i)[C_TEXT] == body:
                return i
        return None

    async def run() -> None:
        sim.gateway.add_message(from_=linked_phone, body=body)
        await until(lambda: row_of() is not None, what="the revocation in the feed")
        action = window.findChild(QAction, "actionConfirmOptOut")
        assert action is not None
        assert action.text().replace("&", "") == "Confirm as opt-out…"
        row = row_of()
        assert row is not None
        window.view.selectRow(row)
        await until(action.isEnabled, what="the action enabled")
        action.trigger()
        await until(
            lambda: window.consent_screen is not None and window.consent_screen.info is not None,
            what="the consent screen",
        )
        screen = window.consent_screen
        assert screen is not None
        await settled(screen)
        assert screen.phone == linked_phone
        assert screen.reason.text() == f"revocation text: {body}"
        assert screen.keyword_choice.currentData() is None  # all keywords
        screen.ask_force()
        box = screen.confirm_box
        assert box is not None
        box.button(QMessageBox.StandardButton.Yes).click()
        await until(lambda: "Opted out of every keyword" in screen.status.text())
        await until(lambda: not screen.gateway_busy and screen.worker.pending == 0)
        await close_screen(screen)

    drive(qloop, run())
    records = records_of(window, linked_phone)
    assert [(r.keyword, r.opted_in, r.how) for r in records][-1] == ("*", False, "forced")
    with window.backend.db.sessions() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent_force_opt_out")
        ).one()
    assert entry.after is not None
    assert entry.after["reason"] == f"revocation text: {body}"
