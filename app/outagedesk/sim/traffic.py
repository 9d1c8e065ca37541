"""Deterministic inbound text traffic for the simulated gateway."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from outagedesk.sim._util import rfc3339, utcnow
from outagedesk.sim.directory import UNLINKED_AREA_CODES, DirectoryRow

if TYPE_CHECKING:
    from outagedesk.sim.gateway import SimGateway

_SHORT_CODE = "85700"
_DISTRICTS = ("north", "south", "east", "west", "valley", "mesa")

# (body template, keyword) - {acct} and {addr} are filled from the sender's directory row.
_OUTAGE_BODIES = (
    ("OUT", "OUT"),
    ("OUTAGE", "OUTAGE"),
    ("#OUT", "#OUT"),
    ("out", "OUT"),
    ("Out", "OUT"),
    ("OUT tree on line", "OUT"),
    ("OUT power flickering", "OUT"),
    ("OUTAGE wire down on Elm", "OUTAGE"),
    ("OUT acct {acct}", "OUT"),
    ("OUT {addr}", "OUT"),
    ("Out - pole damage", "OUT"),
    ("OUT half the house is dark", "OUT"),
    ("OUT lights dim", "OUT"),
    ("outage whole street is dark", "OUTAGE"),
    ("#OUT transformer went boom 💥", "#OUT"),
    ("OUT\nno power since 3am", "OUT"),
)
_STATUS_BODIES = (
    ("STATUS", "STATUS"),
    ("status", "STATUS"),
    ("STAT", "STAT"),
    ("STATUS when will power be back?", "STATUS"),
)
_HELP_BODIES = (("HELP", "HELP"), ("help", "HELP"), ("INFO", "INFO"))
_STOP_BODIES = (
    ("STOP", "STOP"),
    ("stop", "STOP"),
    ("Stop", "STOP"),
    ("STOPALL", "STOPALL"),
    ("END", "END"),
    ("CANCEL", "CANCEL"),
    ("UNSUBSCRIBE", "UNSUBSCRIBE"),
    ("QUIT", "QUIT"),
    ("opt out", "OPT OUT"),
)
_START_BODIES = (("START", "START"), ("UNSTOP", "UNSTOP"), ("YES", "YES"))
_REVOCATIONS = (
    "please stop texting me",
    "unsubscribe me please",
    "Stop sending me these messages",
    "no more texts please, I moved",
    "take me off this list",
)
_UNKNOWN_BODIES = (
    "hello?",
    "is this the power company",
    "thanks!",
    "Lights back on, thank you 🙏",
    "🙂",
    "",
    "when is my bill due",
    "OK",
)
_SPANISH_BODIES = (
    ("ALTO", "ALTO"),
    ("AUXILIO", "AUXILIO"),
    ("INICIO", "INICIO"),
    ("OUT sin luz", "OUT"),
    ("OUT no hay luz desde las 3", "OUT"),
    ("OUTAGE se fue la luz en toda la calle", "OUTAGE"),
)
_BAD_TIMES = ("yesterday", "2026-13-45T99:00:00Z", "", "24/11/2026 10:15", "not a date")
_BAD_FROMS = ("not-a-phone", "", "12345", "call me", "N/A")
_BAD_BODIES: tuple[Any, ...] = (12345, None, ["OUT"], {"text": "OUT"}, True)


@dataclass
class TrafficMix:
    """Relative weights of the kinds of inbound texts."""

    outage: float = 70
    outage_unlinked: float = 12
    repeat: float = 6
    status: float = 3
    help: float = 2
    stop: float = 2
    start: float = 1
    revocation: float = 1
    unknown: float = 2
    spanish: float = 1
    malformed: float = 0

    def weights(self) -> list[tuple[str, float]]:
        return [(f.name, float(getattr(self, f.name))) for f in fields(self)]


class TrafficGenerator:
    """Texts for a :class:`SimGateway`: the same seed gives the same (from, body) sequence."""

    def __init__(
        self, directory: Sequence[DirectoryRow], seed: int = 1, mix: TrafficMix | None = None
    ) -> None:
        self.mix = mix if mix is not None else TrafficMix()
        weights = self.mix.weights()
        if any(w < 0 for _, w in weights) or sum(w for _, w in weights) <= 0:
            raise ValueError("traffic weights must be >= 0 with a positive sum")
        self._kinds = [name for name, w in weights if w > 0]
        total = 0.0
        self._cumulative: list[float] = []
        for _, weight in weights:
            if weight > 0:
                total += weight
                self._cumulative.append(total)
        self._total = total
        self._seed = seed
        self._rng = random.Random(seed)
        self._rows = [row for row in directory if row.phones]
        self._recent: deque[dict[str, Any]] = deque(maxlen=20)
        self._raw_count = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.sent = 0

    # -- message generation --------------------------------------------------------------------
    def next_message(self) -> dict[str, Any]:
        """kwargs for ``SimGateway.add_message`` (from_, body, keyword, tags) or {"raw": {...}}."""
        with self._lock:
            point = self._rng.random() * self._total
            kind = self._kinds[-1]
            for name, edge in zip(self._kinds, self._cumulative, strict=True):
                if point < edge:
                    kind = name
                    break
            return self._make(kind)

    def _make(self, kind: str) -> dict[str, Any]:
        rng = self._rng
        if kind == "repeat" and self._recent:
            # The same customer texting again shortly after: one of the last few outages.
            earlier = self._recent[-1 - int(rng.random() * min(5, len(self._recent)))]
            return dict(earlier, tags=list(earlier["tags"]))
        if kind in ("outage", "repeat"):
            if not self._rows:
                return self._unlinked_outage()
            row = self._row()
            template, keyword = rng.choice(_OUTAGE_BODIES)
            body = template.format(acct=row.account_number, addr=row.service_address)
            message = self._message(self._sender(row), body, keyword, self._tags(row))
            self._recent.append(message)
            return dict(message, tags=list(message["tags"]))
        if kind == "outage_unlinked":
            return self._unlinked_outage()
        if kind == "status":
            return self._keyword_text(_STATUS_BODIES, 0.9)
        if kind == "help":
            return self._keyword_text(_HELP_BODIES, 0.7)
        if kind == "stop":
            return self._keyword_text(_STOP_BODIES, 0.8)
        if kind == "start":
            return self._keyword_text(_START_BODIES, 0.8)
        if kind == "revocation":
            return self._message(self._any_sender(0.8), rng.choice(_REVOCATIONS), None, [])
        if kind == "unknown":
            return self._message(self._any_sender(0.6), rng.choice(_UNKNOWN_BODIES), None, [])
        if kind == "spanish":
            return self._keyword_text(_SPANISH_BODIES, 0.8)
        return {"raw": self._malformed()}

    def _row(self) -> DirectoryRow:
        return self._rows[int(self._rng.random() * len(self._rows))]

    def _sender(self, row: DirectoryRow) -> str:
        phone = row.phones[int(self._rng.random() * len(row.phones))]
        # Carriers sometimes give a bare 10-digit number instead of E.164.
        return phone[2:] if self._rng.random() < 0.1 else phone

    def _unlinked_phone(self) -> str:
        area = UNLINKED_AREA_CODES[int(self._rng.random() * len(UNLINKED_AREA_CODES))]
        return f"+1{area}55501{int(self._rng.random() * 100):02d}"

    def _any_sender(self, directory_share: float) -> str:
        if self._rows and self._rng.random() < directory_share:
            return self._sender(self._row())
        return self._unlinked_phone()

    def _tags(self, row: DirectoryRow) -> list[str]:
        tags = [_DISTRICTS[int(row.account_number) % len(_DISTRICTS)]]
        if self._rng.random() < 0.5:
            tags.append(f"acct-{row.account_number}")
        return tags

    def _unlinked_outage(self) -> dict[str, Any]:
        template, keyword = self._rng.choice(_OUTAGE_BODIES[:8])
        return self._message(self._unlinked_phone(), template, keyword, [])

    def _keyword_text(
        self, bodies: Sequence[tuple[str, str]], directory_share: float
    ) -> dict[str, Any]:
        body, keyword = self._rng.choice(bodies)
        return self._message(self._any_sender(directory_share), body, keyword, [])

    @staticmethod
    def _message(sender: str, body: str, keyword: str | None, tags: list[str]) -> dict[str, Any]:
        return {"from_": sender, "body": body, "keyword": keyword, "tags": tags}

    def _malformed(self) -> dict[str, Any]:
        rng = self._rng
        self._raw_count += 1
        row = self._row() if self._rows else None
        raw: dict[str, Any] = {
            "id": f"x{self._seed}-{self._raw_count:06d}",
            "from": self._sender(row) if row is not None else self._unlinked_phone(),
            "to": _SHORT_CODE,
            # Numbered so that no two broken entries are identical, even without an id.
            "body": f"OUT ref {self._raw_count}",
            "received_at": rfc3339(utcnow()),
            "carrier": "31003",
            "keyword": "OUT",
            "tags": [],
        }
        flaw = int(rng.random() * 4)
        if flaw == 0:
            del raw["id"]
        elif flaw == 1:
            raw["received_at"] = rng.choice(_BAD_TIMES)
        elif flaw == 2:
            raw["from"] = rng.choice(_BAD_FROMS)
        else:
            raw["body"] = rng.choice(_BAD_BODIES)
        return raw

    # -- feeding a gateway ---------------------------------------------------------------------
    def feed(self, gateway: SimGateway, count: int) -> None:
        for _ in range(count):
            self._deliver(gateway, self.next_message())

    def _deliver(self, gateway: SimGateway, message: dict[str, Any]) -> None:
        raw = message.get("raw")
        if isinstance(raw, dict):
            gateway.add_raw(raw)
        else:
            gateway.add_message(**message)
        with self._lock:
            self.sent += 1

    def start(self, gateway: SimGateway, rate_per_s: float) -> None:
        """Add messages to ``gateway`` at ``rate_per_s`` from a background thread."""
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be > 0")
        if self._thread is not None:
            raise RuntimeError("traffic is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(gateway, rate_per_s), name="sim-traffic", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stop.set()
        thread.join(5.0)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def _run(self, gateway: SimGateway, rate_per_s: float) -> None:
        interval = 1.0 / rate_per_s
        due = time.monotonic()
        while not self._stop.is_set():
            self._deliver(gateway, self.next_message())
            due += interval
            delay = due - time.monotonic()
            if delay < -1.0:
                # Far behind (machine paused): do not burst to catch up.
                due = time.monotonic()
            elif delay > 0 and self._stop.wait(delay):
                return
