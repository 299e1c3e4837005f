"""The simulated device as a WS-Eventing event source (PROTOCOL.md §4.7, §7.3; WDD:
scanavailableevent.md, scandestination.md, destinationresponses.md, jobstatusevent.md,
jobendstateevent.md, scannerstatussummaryevent.md, scannerstatusconditionevent.md).

:class:`EventSource` listens to a :class:`~devices.simulator.device.ScanDevice`, turns each
device event into its WS-Scan body and POSTs it to every live subscription whose Action filter
admits it. Subscriptions come from :mod:`devices.protocols.eventing_source`; the extension hook
answers ``wscn:ScanDestinations`` with ``wscn:DestinationResponses`` (one DestinationToken per
destination), and ScanAvailableEvent goes only to the subscriptions that registered the
destination the user picked, with that destination's ClientContext.

Each subscription has its own queue and worker, so its events arrive in the order the device
raised them. Device events may be raised from any thread; they are handed to the event loop with
``call_soon_threadsafe``. Three failed deliveries in a row end the subscription (DeliveryFailure).
By default events go only to loopback NotifyTo addresses: a Subscribe is untrusted input and the
simulator must not be turned into a tool that POSTs anywhere (``allow_remote`` lifts this).
"""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import logging
import secrets
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from lxml import etree

from devices.protocols import eventing, soap
from devices.protocols.eventing_source import Subscription, SubscriptionManager
from devices.protocols.namespaces import DSD, WSCN
from devices.protocols.wsscan import actions as a
from devices.protocols.wsscan import elements as el
from devices.protocols.wsscan import events as ev
from devices.protocols.wsscan.messages import JobStatus
from devices.simulator import device as dev

log = logging.getLogger(__name__)

SUPPORTED_ACTIONS = frozenset(a.EVENT_ACTIONS)
MAX_FAILURES = 3
NOTIFY_TIMEOUT = 5.0


@dataclass(frozen=True)
class Destination:
    """One entry of the device panel's destination list, from one subscription."""

    subscription_id: str
    display_name: str
    client_context: str
    token: str


def event_body(event: dev.DeviceEvent, ns: str = WSCN) -> tuple[str, etree._Element] | None:
    """(Action, body) of a device event; None for ScanAvailable, whose body differs per subscriber."""
    wire: ev.Event
    if isinstance(event, dev.StatusSummaryChanged):
        wire = ev.ScannerStatusSummaryEvent(event.state, event.reasons)
    elif isinstance(event, dev.ConditionRaised):
        c = event.condition
        wire = ev.ScannerStatusConditionEvent(
            el.DeviceCondition(c.condition_id, c.time, c.name, c.component, c.severity)
        )
    elif isinstance(event, dev.ConditionCleared):
        wire = ev.ScannerStatusConditionClearedEvent(event.condition.condition_id, event.cleared)
    elif isinstance(event, dev.JobStatusChanged):
        wire = ev.JobStatusEvent(
            JobStatus(
                job_id=event.job_id,
                job_state=event.state,
                scans_completed=event.images_done,
                job_state_reasons=event.reasons,
                job_created_time=event.created,
            )
        )
    elif isinstance(event, dev.JobEnded):
        wire = ev.JobEndStateEvent(
            ev.JobEndState(
                job_id=event.job_id,
                job_completed_state=event.state,
                job_completed_state_reasons=event.reasons,
                job_name=event.job_name,
                job_originating_user_name=event.user,
                scans_completed=event.images_done,
                job_completed_time=event.completed,
            )
        )
    else:
        return None
    return wire.ACTION, wire.to_element(ns=ns)


def is_loopback_url(url: str) -> bool:
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    if parsed.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parsed.hostname).is_loopback
    except ValueError:
        return False


class EventSource:
    """Subscriptions and event delivery for one device (bind it with :meth:`attach`)."""

    def __init__(
        self,
        device: dev.ScanDevice,
        manager: SubscriptionManager,
        *,
        dsd_bodies: bool = False,
        allow_remote: bool = False,
    ) -> None:
        self.device = device
        self.manager = manager
        self.ns = DSD if dsd_bodies else WSCN
        self.allow_remote = allow_remote
        self._destinations: dict[str, tuple[Destination, ...]] = {}
        self._queues: dict[str, asyncio.Queue[tuple[str, etree._Element] | None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self.delivered: int = 0

    # ---- lifecycle ---------------------------------------------------------------------

    async def attach(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=NOTIFY_TIMEOUT))
        self.device.add_listener(self.on_device_event)

    async def close(self, status: str = eventing.STATUS_SOURCE_SHUTTING_DOWN) -> None:
        """Tell subscribers with an EndTo that the source is going away, then stop delivering."""
        self.device.remove_listener(self.on_device_event)
        for sub in self.manager.all():
            if sub.end_to is not None and self._session is not None and self._allowed(sub.end_to.address):
                end = self.manager.subscription_end(sub, status, "the device is shutting down")
                await self._post(sub.end_to.address, eventing.build_subscription_end(sub.end_to, end))
            self.manager.cancel(sub.id)
        for task in self._workers.values():
            task.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- subscriptions -----------------------------------------------------------------

    def extension_hook(self, sub: Subscription, req: eventing.Subscribe) -> Iterable[etree._Element]:
        """SubscribeResponse extensions: a DestinationToken for each ScanDestination asked for."""
        if not self.allow_remote and not self._allowed(req.notify_to.address):
            raise soap.SoapFault.sender(
                eventing.INVALID_MESSAGE, "this simulated device only notifies loopback addresses"
            )
        found = ev.find_scan_destinations(_holder(req.extensions))
        if found is None:
            return ()
        dests = tuple(
            Destination(sub.id, d.client_display_name, d.client_context, "dt-" + secrets.token_hex(12))
            for d in found.destinations
        )
        self._destinations[sub.id] = dests
        responses = ev.DestinationResponses(
            tuple(ev.DestinationResponse(d.client_context, d.token) for d in dests)
        )
        return (responses.to_element(),)

    def destinations(self) -> tuple[Destination, ...]:
        """What the panel shows: destinations of live subscriptions, oldest first."""
        live = {s.id for s in self.manager.all()}
        for sub_id in [k for k in self._destinations if k not in live]:
            del self._destinations[sub_id]
        return tuple(d for sub_id, dests in self._destinations.items() for d in dests)

    def destination_for_token(self, token: str) -> Destination | None:
        return next((d for d in self.destinations() if secrets.compare_digest(d.token, token)), None)

    def _allowed(self, url: str) -> bool:
        return self.allow_remote or is_loopback_url(url)

    # ---- delivery ----------------------------------------------------------------------

    def on_device_event(self, event: dev.DeviceEvent) -> None:
        """Device listener; safe to call from any thread."""
        if isinstance(event, dev.ScanAvailable):
            targets = [d for d in self.destinations() if d.display_name == event.destination]
            for dest in targets:
                body = ev.ScanAvailableEvent(dest.client_context, event.scan_identifier).to_element()
                self._schedule(a.ACTION_SCAN_AVAILABLE_EVENT, body, only=dest.subscription_id)
            return
        found = event_body(event, self.ns)
        if found is not None:
            self._schedule(*found)

    def _schedule(self, action_uri: str, body: etree._Element, only: str | None = None) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._enqueue(action_uri, body, only)
        else:
            loop.call_soon_threadsafe(self._enqueue, action_uri, body, only)

    def _enqueue(self, action_uri: str, body: etree._Element, only: str | None) -> None:
        for sub in self.manager.subscribers_for(action_uri):
            if only is not None and sub.id != only:
                continue
            queue = self._queues.get(sub.id)
            if queue is None:
                queue = self._queues[sub.id] = asyncio.Queue()
                self._workers[sub.id] = asyncio.ensure_future(self._worker(sub.id, queue))
            queue.put_nowait((action_uri, body))

    async def _worker(self, sub_id: str, queue: asyncio.Queue[tuple[str, etree._Element] | None]) -> None:
        failures = 0
        while True:
            item = await queue.get()
            if item is None:
                return
            action_uri, body = item
            sub = next((s for s in self.manager.all() if s.id == sub_id), None)
            if sub is None:
                return
            if not self._allowed(sub.notify_to.address):
                continue
            message = eventing.build_notification(sub.notify_to, action_uri, body)
            if await self._post(sub.notify_to.address, message):
                failures = 0
                self.delivered += 1
                continue
            failures += 1
            if failures >= MAX_FAILURES:
                log.info("ending subscription %s after %d failed deliveries", sub_id, failures)
                self.manager.cancel(sub_id)
                if sub.end_to is not None and self._allowed(sub.end_to.address):
                    end = self.manager.subscription_end(sub, eventing.STATUS_DELIVERY_FAILURE)
                    await self._post(sub.end_to.address, eventing.build_subscription_end(sub.end_to, end))
                return

    async def _post(self, url: str, message: bytes) -> bool:
        if self._session is None:
            return False
        try:
            async with self._session.post(
                url, data=message, headers={"Content-Type": soap.CONTENT_TYPE}
            ) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return True
                log.info("event delivery to %s got HTTP %d", url, resp.status)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.info("event delivery to %s failed: %s", url, exc)
        return False

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait until every queued event was attempted (tests and clean shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(not q.empty() for q in self._queues.values()) and loop.time() < deadline:
            await asyncio.sleep(0.01)


def _holder(extensions: eventing.Elements) -> etree._Element:
    """A throwaway parent holding copies of ``extensions``, for the wsscan finders."""
    holder = etree.Element("extensions")
    for item in extensions:
        holder.append(copy.deepcopy(item))
    return holder
