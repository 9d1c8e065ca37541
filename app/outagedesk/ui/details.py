"""The details pane's HTML for one feed row (built on the GUI thread from plain data)."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

from outagedesk.domain.phones import format_phone
from outagedesk.domain.reports import NEEDS_LINKING
from outagedesk.store.feed import MessageDetails, QuarantineDetails
from outagedesk.ui import theme
from outagedesk.ui.feed_model import KIND_LABELS, STATE_TIPS


def _t(at: datetime | None) -> str:
    if at is None:
        return "—"
    local = at.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %Z")


def _e(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return escape(str(value))


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(
        f"<tr><td style='padding-right:10px' class='k'>{escape(k)}</td><td>{v}</td></tr>"
        for k, v in rows
    )
    return f"<table cellspacing='0' cellpadding='2'>{cells}</table>"


def _grid(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th align='left'>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table cellspacing='0' cellpadding='3' width='100%'><tr>{head}</tr>{body}</table>"


def _style(theme_name: str) -> str:
    c = theme.html_colours(theme_name)
    return (
        "<style>"
        f"h2 {{ margin: 0 0 4px 0; color: {c['head']}; }}"
        f"h3 {{ margin: 10px 0 2px 0; color: {c['head']}; border-bottom: 1px solid {c['rule']}; }}"
        f".k {{ color: {c['muted']}; }}"
        f".muted {{ color: {c['muted']}; }}"
        f".warn {{ background: {c['warn_bg']}; color: {c['warn_fg']}; font-weight: bold; "
        "padding: 4px; }"
        f".bad {{ color: {c['bad']}; font-weight: bold; }}"
        f".ok {{ color: {c['ok']}; font-weight: bold; }}"
        f"pre {{ background: {c['code_bg']}; padding: 6px; white-space: pre-wrap; }}"
        f"th {{ color: {c['muted']}; border-bottom: 1px solid {c['rule']}; }}"
        "</style>"
    )


def render_empty(theme_name: str) -> str:
    return (
        _style(theme_name) + "<p class='muted'>Select a row to see the raw message, every "
        "report revision and OMS answer, the replies sent and the number's history.</p>"
    )


def render(d: MessageDetails | QuarantineDetails | None, theme_name: str) -> str:
    if d is None:
        return _style(theme_name) + "<p class='muted'>This entry is no longer in the database.</p>"
    if isinstance(d, QuarantineDetails):
        return _render_quarantine(d, theme_name)
    return _render_message(d, theme_name)


def _render_quarantine(d: QuarantineDetails, theme_name: str) -> str:
    try:
        raw = json.dumps(json.loads(d.raw), indent=2, ensure_ascii=False)
    except ValueError:
        raw = d.raw
    parts = [
        _style(theme_name),
        "<h2>Quarantined gateway entry</h2>",
        f"<p class='bad'>Reason: {_e(d.reason)}</p>",
        f"<p class='muted'>{escape(STATE_TIPS['quarantined'])}</p>",
        _table(
            [
                ("Quarantined", _e(_t(d.quarantined_at))),
                ("Gateway id", _e(d.gateway_message_id)),
            ]
        ),
        "<h3>Raw entry</h3>",
        f"<pre>{escape(raw)}</pre>",
    ]
    return "".join(parts)


def _render_message(d: MessageDetails, theme_name: str) -> str:
    phone = format_phone(d.phone)
    kind = KIND_LABELS.get(d.kind, d.kind)
    parts = [_style(theme_name), f"<h2>{escape(kind)} from {escape(phone)}</h2>"]
    report = d.report
    if report is not None and report.state in NEEDS_LINKING:
        parts.append(
            f"<p class='warn'>⚠ {escape(report.state.upper())}: "
            f"{escape(STATE_TIPS[report.state])}</p>"
            f"<p><a href='outagedesk://link/{d.key}'><b>Link…</b></a> "
            "<span class='muted'>(Enter on the row, or Ctrl+K): link this number to an "
            "account and re-send</span></p>"
        )
    if d.revocation_suspected:
        parts.append(
            "<p class='warn'>⚑ This text reads like a request to stop texting: "
            "confirm and opt the number out if so.</p>"
        )
    if d.repeat > 1:
        parts.append(f"<p><b>Text {d.repeat} from this number within 30 minutes.</b></p>")
    parts.append(
        _table(
            [
                ("Received", _e(_t(d.received_at))),
                ("Stored", _e(_t(d.stored_at))),
                ("Phone", f"{_e(phone)} <span class='muted'>({_e(d.phone)})</span>"),
                ("To", _e(d.to)),
                ("Keyword", _e(d.keyword)),
                ("Remarks", _e(d.remarks)),
                ("Carrier", _e(d.carrier)),
                ("Tags", _e(", ".join(d.tags))),
                ("Gateway id", _e(d.gateway_message_id)),
            ]
        )
    )
    parts.append("<h3>Text</h3>")
    parts.append(f"<pre>{escape(d.body) if d.body else '(empty)'}</pre>")
    if report is not None:
        state_class = (
            "bad"
            if report.state in ("rejected", "unlinked", "held")
            else ("ok" if report.state == "forwarded" else "")
        )
        location = report.service_address or report.service_location_id
        parts.append(f"<h3>Report {escape(report.report_id)} · revision {report.revision}</h3>")
        parts.append(
            _table(
                [
                    ("State", f"<span class='{state_class}'>{_e(report.state)}</span>"),
                    ("Ticket", _e(report.ticket_id)),
                    ("Account", _e(report.account_number)),
                    ("Location", _e(location)),
                    ("Meter", _e(report.meter_id)),
                    ("Resolved to", _e(report.resolved_level)),
                    ("Priority", _e(report.priority)),
                    ("OMS status", _e(report.oms_status)),
                    ("OMS message", _e(report.oms_message)),
                    ("Updated", _e(_t(report.updated_at))),
                ]
            )
        )
        parts.append("<h3>OMS answers (every revision)</h3>")
        if d.attempts:
            parts.append(
                _grid(
                    ["When", "Rev.", "HTTP", "Outcome", "Detail"],
                    [
                        [
                            _e(_t(a.at)),
                            str(a.revision),
                            _e(a.http_status),
                            _e(a.outcome),
                            _e(a.detail),
                        ]
                        for a in d.attempts
                    ],
                )
            )
        else:
            parts.append("<p class='muted'>Not sent to the OMS yet.</p>")
        if d.audit:
            parts.append("<h3>Changes</h3>")
            parts.append(
                _grid(
                    ["When", "Who", "Desk", "What"],
                    [[_e(_t(a.at)), _e(a.actor), _e(a.desk), _e(a.action)] for a in d.audit],
                )
            )
    parts.append("<h3>Links of this number</h3>")
    if d.links:
        parts.append(
            _grid(
                ["Account", "Location", "Customer", "Address", "Source"],
                [
                    [
                        _e(li.account_number)
                        + (" <span class='bad'>LIFE SUPPORT</span>" if li.life_support else ""),
                        _e(li.service_location_id or "whole account"),
                        _e(li.customer_name),
                        _e(li.service_address),
                        _e(li.source),
                    ]
                    for li in d.links
                ],
            )
        )
    else:
        parts.append("<p class='bad'>Not linked to any account.</p>")
    parts.append("<h3>Replies sent to this number</h3>")
    if d.replies:
        parts.append(
            _grid(
                ["When", "Purpose", "State", "Text"],
                [
                    [
                        _e(_t(r.at)),
                        _e(r.purpose),
                        _e(r.state)
                        + (f"<br><span class='muted'>{_e(r.detail)}</span>" if r.detail else ""),
                        _e(r.body),
                    ]
                    for r in d.replies
                ],
            )
        )
    else:
        parts.append("<p class='muted'>None.</p>")
    parts.append("<h3>This number's other texts</h3>")
    if d.history:
        parts.append(
            _grid(
                ["Received", "Kind", "Text", "State"],
                [
                    [
                        _e(_t(h.received_at)),
                        _e(KIND_LABELS.get(h.kind, h.kind)),
                        _e(h.body[:160]),
                        _e(" · ".join(x for x in (h.state, h.ticket_id) if x)),
                    ]
                    for h in d.history
                ],
            )
        )
    else:
        parts.append("<p class='muted'>First text from this number.</p>")
    parts.append("<h3>Raw message (as the gateway sent it)</h3>")
    raw = json.dumps(d.raw, indent=2, ensure_ascii=False, sort_keys=True)
    parts.append(f"<pre>{escape(raw)}</pre>")
    return "".join(parts)
