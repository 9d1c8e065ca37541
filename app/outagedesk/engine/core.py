"""The engine: poll the gateway, store each page, forward reports to the OMS.

It runs on an asyncio loop of its own (headless, or in a thread beside the GUI) and does every
database call on one worker thread, so neither the loop nor a window ever waits on a commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import ParamSpec, TypeVar

import httpx
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from outagedesk.domain.backoff import backoff_delay
from outagedesk.domain.keywords import DEFAULT_OUTAGE_KEYWORDS, Classifier
from outagedesk.domain.replies import ReplyPolicy
from outagedesk.engine.events import (
    ConnectionChanged,
    EventBus,
    LinkState,
    MessagesStored,
    ReportsChanged,
)
from outagedesk.gateway.client import (
    GatewayAuthError,
    GatewayClient,
    GatewayThrottled,
    GatewayUnavailable,
    force_opt_out,
    send_text,
)
from outagedesk.gateway.contract import Page
from outagedesk.oms.webhook import OmsOutcome, OmsWebhookClient, OutcomeKind
from outagedesk.store import outbound, outbox
from outagedesk.store.ingest import IngestPolicy, IngestResult, ingest_page, load_cursor
from outagedesk.store.models import utcnow

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
L = TypeVar("L")  # a lane: one HTTP client, or a client of one server over it
W = TypeVar("W")  # an item of work for a lane

# Failures in a row before "degraded" becomes "offline".
OFFLINE_AFTER = 3


@dataclass(frozen=True)
class EngineConfig:
    gateway_url: str
    gateway_token: str
    oms_url: str
    oms_token: str
    gateway_name: str = "default"
    region: str = "US"
    outage_keywords: tuple[str, ...] = DEFAULT_OUTAGE_KEYWORDS
    hold_unlinked: bool = False
    taken_by: str = "outagedesk"
    poll_limit: int = 500
    poll_wait: float = 20.0
    idle_interval: float = 1.0
    forward_batch: int = 200
    forward_concurrency: int = 8
    forward_idle_wait: float = 5.0
    """Longest sleep of the forwarder with nothing due; a wake (a re-send, a reply) ends it."""
    lease_seconds: float = 120.0
    auth_retry_seconds: float = 60.0
    backoff_cap: float = 60.0
    oms_timeout: float = 15.0
    gateway_timeout: float = 10.0
    """Seconds allowed for a gateway answer beyond the long-poll wait."""
    replies: ReplyPolicy | None = field(default_factory=ReplyPolicy)
    """Automatic replies (HELP, STOP confirmation, ...); None when the provider answers all."""
    desk: str = "desk"
    """Owner name of this engine's outbox leases; one engine per desk name."""
    single_desk: bool = True
    """SQLite: no other desk can hold a lease, so every lease left by a crash is freed at start;
    on a shared database only this desk's own."""

    def __repr__(self) -> str:  # tokens never reach a log through a repr
        return (
            f"EngineConfig(gateway_url={self.gateway_url!r}, oms_url={self.oms_url!r}, "
            f"gateway_name={self.gateway_name!r})"
        )


@dataclass
class Counters:
    received: int = 0
    duplicates: int = 0
    quarantined: int = 0
    reports: int = 0
    tickets: int = 0
    unlinked: int = 0
    rejected: int = 0
    errors: int = 0


@dataclass
class LinkStatus:
    state: LinkState = LinkState.STARTING
    detail: str = ""
    last_ok: datetime | None = None


@dataclass
class EngineStatus:
    gateway: LinkStatus = field(default_factory=LinkStatus)
    oms: LinkStatus = field(default_factory=LinkStatus)
    counters: Counters = field(default_factory=Counters)
    backlog: int = 0
    gateway_has_more: bool = False
    engine_down: str | None = None
    """Why no engine runs at the moment (its process ended and is being restarted)."""

    def copy(self) -> EngineStatus:
        return EngineStatus(
            replace(self.gateway),
            replace(self.oms),
            replace(self.counters),
            self.backlog,
            self.gateway_has_more,
            self.engine_down,
        )


def _http_client(connections: int, tls: ssl.SSLContext) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(limits=limits, follow_redirects=False, verify=tls)


@contextlib.asynccontextmanager
async def _lanes(count: int, tls: ssl.SSLContext) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One single-connection client per request in flight.

    Whenever a request starts or ends, httpcore's pool asks every idle connection whether the
    server closed it (two system calls each). In one pool of eight that check ran up to sixteen
    times a request and was a fifth of the forwarder's CPU; a pool of one checks only its own.
    """
    async with contextlib.AsyncExitStack() as stack:
        clients = [_http_client(1, tls) for _ in range(max(count, 1))]
        yield [await stack.enter_async_context(client) for client in clients]


async def _through_lanes(
    lanes: Sequence[L], work: Iterable[W], handle: Callable[[L, W], Awaitable[None]]
) -> None:
    """Hand out ``work`` item by item to whichever lane is free, each lane one at a time."""
    waiting = deque(work)

    async def lane(client: L) -> None:
        while waiting:
            await handle(client, waiting.popleft())

    await asyncio.gather(*(lane(client) for client in lanes[: len(waiting)]))


class OutageEngine:
    def __init__(
        self,
        config: EngineConfig,
        sessions: sessionmaker[Session],
        bus: EventBus | None = None,
    ) -> None:
        self.config = config
        self.bus = bus or EventBus()
        self._sessions = sessions
        self._status = EngineStatus()
        self._status_lock = threading.Lock()
        self._policy = IngestPolicy(
            Classifier(config.outage_keywords),
            config.hold_unlinked,
            config.taken_by,
            config.replies,
        )
        self._db_pool = ThreadPoolExecutor(1, thread_name_prefix="outagedesk-db")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._texts: asyncio.Event | None = None
        self._stop_requested = threading.Event()

    # -- state seen from any thread ---------------------------------------------------------
    def status(self) -> EngineStatus:
        with self._status_lock:
            return self._status.copy()

    def stop(self) -> None:
        """Ask the engine to stop; safe from any thread and before ``run`` started."""
        self._stop_requested.set()
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)

    def wake_forwarder(self) -> None:
        """New work was queued from outside (a re-send, a reply): look at the outbox now."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            for event in (self._wake, self._texts):
                if event is not None:
                    loop.call_soon_threadsafe(event.set)

    # -- running ----------------------------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._texts = asyncio.Event()
        if self._stop_requested.is_set():
            self._stopping.set()
        cfg = self.config
        try:
            # Loading the certificate store takes tens of milliseconds: once, not per client.
            tls = httpx.create_ssl_context()
            # The forwarder and the reply sender each have lanes of their own: sharing a pool,
            # they closed each other's idle connections.
            async with (
                _lanes(cfg.forward_concurrency, tls) as oms_lanes,
                _lanes(cfg.forward_concurrency, tls) as text_lanes,
                # The long poll and a forced opt-out.
                _http_client(2, tls) as http,
            ):
                gateway = GatewayClient(
                    http,
                    cfg.gateway_url,
                    cfg.gateway_token,
                    region=cfg.region,
                    timeout=cfg.gateway_timeout,
                )
                oms = [
                    OmsWebhookClient(lane, cfg.oms_url, cfg.oms_token, cfg.oms_timeout)
                    for lane in oms_lanes
                ]
                freed = await self._db(outbox.release_leases, None if cfg.single_desk else cfg.desk)
                if freed:
                    log.info("freed %d delivery leases left by an earlier run", freed)
                workers = [
                    asyncio.create_task(self._poll_loop(gateway), name="poll"),
                    asyncio.create_task(self._forward_loop(oms), name="forward"),
                    asyncio.create_task(self._reply_loop(http, text_lanes), name="replies"),
                ]
                await self._stopping.wait()
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
        finally:
            # Lets a commit already handed to the worker finish before the process goes.
            self._db_pool.shutdown(wait=True)
            self._loop = None

    async def _db(self, fn: Callable[..., T], *args: object) -> T:
        def call() -> T:
            with self._sessions() as session:
                return fn(session, *args)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_pool, call)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    @staticmethod
    async def _wait_for(event: asyncio.Event, seconds: float) -> None:
        """Wait until ``event`` is set or ``seconds`` pass, then clear it.

        Not ``asyncio.wait_for``: on Python 3.11 it swallows a cancellation that arrives in the
        same loop step as the event, and the engine would then never stop.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
        event.clear()

    def _set_link(
        self, component: str, state: LinkState, detail: str = "", ok: bool = False
    ) -> None:
        with self._status_lock:
            link = self._status.gateway if component == "gateway" else self._status.oms
            if ok:
                link.last_ok = utcnow()
            changed = link.state != state or link.detail != detail
            link.state, link.detail = state, detail
            last_ok = link.last_ok
        if changed:
            level = logging.INFO if state == LinkState.ONLINE else logging.WARNING
            log.log(level, "%s %s%s", component, state.value, f": {detail}" if detail else "")
        if changed or ok:
            self.bus.publish(ConnectionChanged(component, state, detail, last_ok))

    # -- gateway ----------------------------------------------------------------------------
    async def _poll_loop(self, gateway: GatewayClient) -> None:
        cfg = self.config
        failures = 0
        cursor: str | None = None
        cursor_loaded = False
        while True:
            try:
                if not cursor_loaded:
                    cursor = await self._db(load_cursor, cfg.gateway_name)
                    cursor_loaded = True
                started = asyncio.get_running_loop().time()
                page = await gateway.fetch_inbound(cursor, cfg.poll_limit, cfg.poll_wait)
                result = await self._db(ingest_page, cfg.gateway_name, page, self._policy)
            except GatewayAuthError as exc:
                self._set_link("gateway", LinkState.AUTH_ERROR, f"{exc}: check the gateway token")
                await self._sleep(cfg.auth_retry_seconds)
                continue
            except GatewayThrottled as exc:
                self._set_link("gateway", LinkState.DEGRADED, str(exc))
                await self._sleep(max(exc.retry_after, 0.05))
                continue
            except (GatewayUnavailable, SQLAlchemyError) as exc:
                failures += 1
                self._count_error()
                if isinstance(exc, SQLAlchemyError):
                    log.exception("could not store a gateway page; it will be fetched again")
                state = LinkState.DEGRADED if failures < OFFLINE_AFTER else LinkState.OFFLINE
                self._set_link("gateway", state, str(exc)[:300])
                await self._sleep(backoff_delay(failures, base=0.5, cap=cfg.backoff_cap))
                continue
            failures = 0
            if page.next_cursor is not None:
                cursor = page.next_cursor
            self._after_ingest(page, result)
            elapsed = asyncio.get_running_loop().time() - started
            if not page.has_more and page.count == 0 and elapsed < cfg.idle_interval:
                # The gateway ignored the long-poll wait: pace the polls ourselves.
                await self._sleep(cfg.idle_interval - elapsed)

    def _after_ingest(self, page: Page, result: IngestResult) -> None:
        with self._status_lock:
            c = self._status.counters
            c.received += result.stored
            c.duplicates += result.duplicates
            c.quarantined += result.quarantined
            c.reports += len(result.report_ids)
            self._status.gateway_has_more = page.has_more
        self._set_link("gateway", LinkState.ONLINE, ok=True)
        if result.stored or result.quarantined:
            self.bus.publish(
                MessagesStored(
                    tuple(result.message_ids),
                    tuple(result.report_ids),
                    result.quarantined,
                    result.unlinked,
                )
            )
        if result.forwardable and self._wake is not None:
            self._wake.set()
        if result.replies and self._texts is not None:
            self._texts.set()

    def _count_error(self) -> None:
        with self._status_lock:
            self._status.counters.errors += 1

    # -- OMS --------------------------------------------------------------------------------
    async def _forward_loop(self, oms: Sequence[OmsWebhookClient]) -> None:
        cfg = self.config
        failures = 0
        assert self._wake is not None
        while True:
            try:
                tasks = await self._db(
                    outbox.claim_due, cfg.forward_batch, cfg.lease_seconds, cfg.desk
                )
                if not tasks:
                    await self._idle_until_due()
                    continue
                deliveries, skipped = await self._deliver_batch(oms, tasks)
                # Refused credentials say nothing about the reports: give them back as they were.
                refused = [d.task for d in deliveries if d.outcome.kind == OutcomeKind.AUTH]
                if skipped or refused:
                    await self._db(outbox.release, [t.task_id for t in skipped + refused])
                answered = [d for d in deliveries if d.outcome.kind != OutcomeKind.AUTH]
                if answered:
                    changed = await self._db(outbox.record_deliveries, answered, cfg.backoff_cap)
                    self.bus.publish(ReportsChanged(tuple(changed)))
                self._tally(deliveries)
                backlog = await self._db(outbox.backlog)
                with self._status_lock:
                    self._status.backlog = backlog
            except SQLAlchemyError:
                log.exception("outbox database error; retrying")
                failures += 1
                await self._sleep(backoff_delay(failures, cap=cfg.backoff_cap))
                continue
            kinds = {d.outcome.kind for d in deliveries}
            if OutcomeKind.AUTH in kinds:
                detail = next(
                    d.outcome.message for d in deliveries if d.outcome.kind == "auth_error"
                )
                self._set_link("oms", LinkState.AUTH_ERROR, f"{detail}: check the OMS token")
                await self._sleep(cfg.auth_retry_seconds)
            elif kinds and kinds <= {OutcomeKind.TRANSIENT}:
                failures += 1
                state = LinkState.DEGRADED if failures < OFFLINE_AFTER else LinkState.OFFLINE
                first = deliveries[0].outcome
                self._set_link("oms", state, first.message or "")
                wait = first.retry_after or backoff_delay(failures, cap=cfg.backoff_cap)
                await self._sleep(wait)
            elif kinds:
                failures = 0
                self._set_link("oms", LinkState.ONLINE, ok=True)

    async def _idle_until_due(self) -> None:
        assert self._wake is not None
        due = await self._db(outbox.next_due)
        backlog = await self._db(outbox.backlog)
        with self._status_lock:
            self._status.backlog = backlog
        timeout = self.config.forward_idle_wait
        if due is not None:
            timeout = min(max((due - utcnow()).total_seconds(), 0.05), timeout)
        await self._wait_for(self._wake, timeout)

    async def _deliver_batch(
        self, oms: Sequence[OmsWebhookClient], tasks: list[outbox.ClaimedTask]
    ) -> tuple[list[outbox.Delivery], list[outbox.ClaimedTask]]:
        """Send a batch concurrently, one request in flight per lane; once the OMS fails with
        nothing getting through, the rest is given back unsent rather than piling onto a sick
        server."""
        tripped = False
        succeeded = False
        done: list[outbox.Delivery] = []
        skipped: list[outbox.ClaimedTask] = []

        async def deliver(client: OmsWebhookClient, task: outbox.ClaimedTask) -> None:
            nonlocal tripped, succeeded
            if tripped and not succeeded:
                skipped.append(task)
                return
            outcome: OmsOutcome = await client.deliver(task.idempotency_key, task.payload)
            if outcome.kind in (OutcomeKind.TRANSIENT, OutcomeKind.AUTH):
                tripped = True
            else:
                succeeded = True
            done.append(outbox.Delivery(task, outcome))

        await _through_lanes(oms, tasks, deliver)
        return done, skipped

    # -- texts to customers ------------------------------------------------------------------
    async def _reply_loop(
        self, http: httpx.AsyncClient, lanes: Sequence[httpx.AsyncClient]
    ) -> None:
        """Send queued texts through the gateway; consent is checked again as each is claimed."""
        cfg = self.config
        failures = 0
        assert self._texts is not None
        while True:
            await self._yield_to_backlog()
            try:
                await self._pass_on_opt_outs(http)
                texts = await self._db(
                    outbound.claim_texts, cfg.forward_batch, cfg.lease_seconds, cfg.desk
                )
                if not texts:
                    await self._wait_for(self._texts, 2.0)
                    continue
                results = await self._send_texts(lanes, texts)
                await self._db(outbound.record_sends, results, cfg.backoff_cap)
            except SQLAlchemyError:
                log.exception("outbound text database error; retrying")
                failures += 1
                await self._sleep(backoff_delay(failures, cap=cfg.backoff_cap))
                continue
            outcomes = {r.outcome for r in results}
            if "auth" in outcomes:
                await self._sleep(cfg.auth_retry_seconds)
            elif outcomes == {"retry"}:
                failures += 1
                await self._sleep(backoff_delay(failures, cap=cfg.backoff_cap))
            else:
                failures = 0

    async def _yield_to_backlog(self, most: float = 5.0) -> None:
        """While the gateway still holds a backlog, storing it comes first: texts wait a few
        seconds at most, so replies stay prompt but never slow a storm's intake."""
        waited = 0.0
        while waited < most:
            with self._status_lock:
                backlog = self._status.gateway_has_more
            if not backlog:
                return
            await asyncio.sleep(0.1)
            waited += 0.1

    async def _pass_on_opt_outs(self, http: httpx.AsyncClient) -> None:
        """Forced opt-outs recorded here are passed on to the gateway's registry."""
        cfg = self.config
        tasks = await self._db(
            outbox.claim_due, 50, cfg.lease_seconds, cfg.desk, outbound.GATEWAY_OPT_OUT_TASK
        )
        results: list[tuple[int, bool | None, str | None]] = []
        for task in tasks:
            answer = await force_opt_out(
                http, cfg.gateway_url, cfg.gateway_token, task.payload["phone"],
                task.payload.get("keyword"),
            )  # fmt: skip
            finished = {"sent": True, "refused": False}.get(answer.outcome)
            results.append((task.task_id, finished, answer.detail))
        if results:
            await self._db(outbox.finish_tasks, results, cfg.backoff_cap)

    async def _send_texts(
        self, lanes: Sequence[httpx.AsyncClient], texts: list[outbound.ClaimedText]
    ) -> list[outbound.SendResult]:
        cfg = self.config
        results: list[outbound.SendResult] = []

        async def send(http: httpx.AsyncClient, text: outbound.ClaimedText) -> None:
            answer = await send_text(http, cfg.gateway_url, cfg.gateway_token, text.payload)
            results.append(
                outbound.SendResult(
                    text, answer.outcome, answer.gateway_id, answer.detail, answer.retry_after
                )
            )

        await _through_lanes(lanes, texts, send)
        return results

    def _tally(self, deliveries: list[outbox.Delivery]) -> None:
        with self._status_lock:
            c = self._status.counters
            for d in deliveries:
                kind = d.outcome.kind
                if kind == OutcomeKind.TICKET:
                    c.tickets += 1
                elif kind == OutcomeKind.NOT_FOUND:
                    c.unlinked += 1
                elif kind == OutcomeKind.REJECTED:
                    c.rejected += 1
                else:
                    c.errors += 1
