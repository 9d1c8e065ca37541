"""Light and dark themes, row colours, icons and style sheets.

Icons and style sheets live in the ``resources/`` folder (``resources/icons/*.svg``,
``resources/styles/<theme>.qss``): inside the installed package when packaged, at the top of
the source tree when running from a checkout. A missing file never stops the window: icons
fall back to a painted dot and the style sheet to none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

LIGHT = "light"
DARK = "dark"
THEMES = (LIGHT, DARK)

# Row tones: what kind of attention a feed row asks for.
TONE_NORMAL = 0
TONE_NEEDS_LINK = 1
TONE_FAILED = 2
TONE_RETRYING = 3
TONE_QUARANTINED = 4
TONE_OPT = 5
TONES = 6


@cache
def resource_dir() -> Path | None:
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "resources", here.parents[3] / "resources"):
        if (candidate / "icons").is_dir():
            return candidate
    return None


def resource_path(*parts: str) -> Path | None:
    base = resource_dir()
    if base is None:
        return None
    path = base.joinpath(*parts)
    return path if path.exists() else None


_FALLBACK_COLOURS = {
    "unlinked": "#f59e0b",
    "held": "#f59e0b",
    "forwarded": "#16a34a",
    "rejected": "#dc2626",
    "retrying": "#ea580c",
    "queued": "#64748b",
    "quarantined": "#7c3aed",
    "online": "#16a34a",
    "degraded": "#facc15",
    "offline": "#dc2626",
    "auth-error": "#dc2626",
    "starting": "#64748b",
}


@cache
def icon(name: str) -> QIcon:
    """An icon from ``resources/icons/<name>.svg`` (a painted dot when it is missing)."""
    path = resource_path("icons", f"{name}.svg")
    if path is not None:
        result = QIcon(str(path))
        if not result.isNull():
            return result
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(_FALLBACK_COLOURS.get(name, "#64748b")))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(2, 2, 12, 12)
    painter.end()
    return QIcon(pixmap)


def style_sheet(theme: str) -> str:
    path = resource_path("styles", f"{theme}.qss")
    if path is None:
        log.warning("no style sheet for the %s theme; using the plain palette", theme)
        return ""
    return path.read_text(encoding="utf-8")


@dataclass(frozen=True)
class RowColours:
    background: tuple[QColor | None, ...]
    foreground: tuple[QColor | None, ...]
    state_ok: QColor
    repeat: QColor


def row_colours(theme: str) -> RowColours:
    if theme == DARK:
        bg = (None, "#4a3500", "#4c1d1d", "#432710", "#2e1f4d", None)
        fg = (None, "#ffe39a", "#fecaca", "#fed7aa", "#ddd6fe", "#a5f3fc")
        ok, repeat = "#86efac", "#fbbf24"
    else:
        bg = (None, "#ffe8a3", "#fde2e2", "#ffedd5", "#ede9fe", None)
        fg = (None, "#4a2f00", "#7f1d1d", "#7c2d12", "#4c1d95", "#155e75")
        ok, repeat = "#166534", "#b45309"
    return RowColours(
        tuple(QColor(c) if c else None for c in bg),
        tuple(QColor(c) if c else None for c in fg),
        QColor(ok),
        QColor(repeat),
    )


def palette(theme: str) -> QPalette:
    pal = QPalette()
    role = QPalette.ColorRole
    if theme == DARK:
        colours = {
            role.Window: "#1e2126",
            role.WindowText: "#e5e7eb",
            role.Base: "#16181c",
            role.AlternateBase: "#1d2025",
            role.Text: "#e5e7eb",
            role.Button: "#2a2e35",
            role.ButtonText: "#e5e7eb",
            role.Highlight: "#2563eb",
            role.HighlightedText: "#ffffff",
            role.ToolTipBase: "#2a2e35",
            role.ToolTipText: "#f3f4f6",
            role.PlaceholderText: "#9ca3af",
            role.Link: "#93c5fd",
            role.BrightText: "#ffffff",
            role.Light: "#3a404a",
            role.Midlight: "#30353d",
            role.Mid: "#262a31",
            role.Dark: "#111317",
            role.Shadow: "#000000",
        }
        disabled = "#6b7280"
    else:
        colours = {
            role.Window: "#f4f5f7",
            role.WindowText: "#1b1f24",
            role.Base: "#ffffff",
            role.AlternateBase: "#f5f7fa",
            role.Text: "#1b1f24",
            role.Button: "#e9ecf1",
            role.ButtonText: "#1b1f24",
            role.Highlight: "#1d4ed8",
            role.HighlightedText: "#ffffff",
            role.ToolTipBase: "#fffbea",
            role.ToolTipText: "#1b1f24",
            role.PlaceholderText: "#6b7280",
            role.Link: "#1d4ed8",
            role.BrightText: "#ffffff",
            role.Light: "#ffffff",
            role.Midlight: "#eef0f3",
            role.Mid: "#c3cad4",
            role.Dark: "#8a94a3",
            role.Shadow: "#4b5563",
        }
        disabled = "#9aa3b0"
    for r, colour in colours.items():
        pal.setColor(r, QColor(colour))
    for r in (role.WindowText, role.Text, role.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, r, QColor(disabled))
    return pal


def apply_theme(theme: str) -> None:
    """Palette and style sheet for the whole application."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    app.setPalette(palette(theme))
    app.setStyleSheet(style_sheet(theme))


def html_colours(theme: str) -> dict[str, str]:
    """Colours the details pane's HTML uses."""
    if theme == DARK:
        return {
            "muted": "#9ca3af",
            "warn_bg": "#4a3500",
            "warn_fg": "#ffe39a",
            "bad": "#fca5a5",
            "ok": "#86efac",
            "code_bg": "#0f1114",
            "rule": "#3a404a",
            "head": "#93c5fd",
        }
    return {
        "muted": "#5b6472",
        "warn_bg": "#ffe8a3",
        "warn_fg": "#4a2f00",
        "bad": "#b91c1c",
        "ok": "#166534",
        "code_bg": "#f3f5f8",
        "rule": "#d5dbe3",
        "head": "#1e3a8a",
    }
