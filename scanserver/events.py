"""Job events: the console broadcast and the WS-Eventing notifications of the scan server.

Every transition of a ``ScanJob`` or ``Delivery`` announces itself
(``ScanJob.announce``: the console broadcast, and the ``scanserver.models.job_changed`` signal once
the transaction commits). This module listens to that signal (connected in ``ScanserverConfig.ready``)
and sends ``PostScanJobStatusEvent`` (and ``PostScanJobEndStateEvent`` for a
terminal state) in both the WS-DSP form (devices, WDD:postscanjobstatusevent.md) and the WS-DSC
form (consoles, [MS-BDSRR] §3.2.4.8-9) to the subscribers who asked for that action.

Subscriptions live in memory, one :class:`SubscriptionManager` per scan-server process
(:func:`manager`): a restart forgets them and subscribers re-subscribe, as WS-Eventing clients
already must when a subscription ends or expires. A Celery worker has no subscribers of its own:
its changes go out as console broadcasts (channels-redis), and every scan-server process relays
the broadcasts of *other* processes to its own subscribers (:func:`relay`), so devices and
consoles hear the pipeline's progress and end state whichever process made it. Notifications go out on a
single sender thread, in order, so a slow or dead subscriber never delays a device's answer.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from datetime import UTC
from typing import Any

from asgiref.sync import sync_to_async

from core import broadcast
from devices.models import ScanServer
from devices.protocols import dsc, dsp, eventing, jobstatus, soap, transport
from devices.protocols.eventing_source import Subscription, SubscriptionManager
from devices.protocols.namespaces import ODSM
from scanserver.models import DSC_JOB_STATE, TERMINAL_JOB_STATES, DeliveryState, JobState, ScanJob

logger = logging.getLogger(__name__)

SUPPORTED_ACTIONS = frozenset(
    {
        dsp.PostScanJobStatusEvent.action,
        dsp.PostScanJobEndStateEvent.action,
        dsc.PostScanJobStatusEvent.action,
        dsc.PostScanJobEndStateEvent.action,
        dsc.RepositoryStatusSummaryEvent.action,
    }
)
NOTIFY_TIMEOUT = 10.0

_FILTER_STATE = {
    DeliveryState.PENDING: jobstatus.FILTER_STATE_PENDING,
    DeliveryState.SENDING: jobstatus.FILTER_STATE_PROCESSING,
    DeliveryState.DELIVERED: jobstatus.FILTER_STATE_COMPLETED_SUCCESSFULLY,
    DeliveryState.FAILED: jobstatus.FILTER_STATE_COMPLETED_WITH_ERRORS,
    DeliveryState.CANCELED: jobstatus.FILTER_STATE_CANCELED,
}

RELAY_REJOIN_SECONDS = 3600.0  # channels-redis forgets group members after a day

_manager: SubscriptionManager | None = None
_manager_lock = threading.Lock()


def manager(address: str = "") -> SubscriptionManager:
    """This process's event source state; the first caller names its address (the endpoint URL)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = SubscriptionManager(
                address or "urn:opendsm:scanserver", supported_actions=SUPPORTED_ACTIONS
            )
        elif address and _manager.address != address:
            _manager.address = address
        return _manager


# --------------------------------------------------------------------------------------------
# job → wire shapes


def filter_statuses(job: ScanJob) -> tuple[jobstatus.FilterStatus, ...]:
    out = []
    for delivery in job.deliveries.all():
        reasons = (delivery.filter_state_reason,) if delivery.filter_state_reason else ()
        out.append(
            jobstatus.FilterStatus(
                dialect=delivery.dialect or "%s/filter/%s" % (ODSM, delivery.kind),
                state=_FILTER_STATE.get(DeliveryState(delivery.state), jobstatus.FILTER_STATE_PENDING),
                reasons=reasons,
            )
        )
    return tuple(out)


def _aware(value):  # type: ignore[no-untyped-def]
    return value.astimezone(UTC) if value is not None else None


def job_status(job: ScanJob) -> jobstatus.JobStatus:
    return jobstatus.JobStatus(
        job_token=dsp.format_guid(job.token),
        state=DSC_JOB_STATE[JobState(job.state)],
        state_reasons=tuple(job.state_reasons or ("None",)),
        filter_statuses=filter_statuses(job),
        images_received=job.images_received,
        created_time=_aware(job.created_at),
        completed_time=_aware(job.completed_at),
    )


def end_state(job: ScanJob) -> jobstatus.PostScanJobEndState:
    return jobstatus.PostScanJobEndState(
        job_token=dsp.format_guid(job.token),
        # The schema requires these to be non-empty; a job refused early may not have them.
        psp_identifier=job.psp_identifier or "-",
        psp_display_name=job.psp_display_name or "-",
        user_name=job.user_name or job.user_sid or "-",
        completed_state=DSC_JOB_STATE[JobState(job.state)],
        completed_state_reasons=tuple(job.state_reasons or ("None",)),
        filter_statuses=filter_statuses(job),
        images_received=job.images_received,
        completed_time=_aware(job.completed_at),
    )


def event_messages(job: ScanJob) -> list[tuple[str, object]]:
    """(action, body element) of every event this state of ``job`` produces."""
    st = job_status(job)
    out: list[tuple[str, object]] = [
        (dsp.PostScanJobStatusEvent.action, dsp.to_element(dsp.PostScanJobStatusEvent(status=st))),
        (dsc.PostScanJobStatusEvent.action, dsc.to_element(dsc.PostScanJobStatusEvent(status=st))),
    ]
    if job.state in TERMINAL_JOB_STATES:
        end = end_state(job)
        out.append(
            (dsp.PostScanJobEndStateEvent.action, dsp.to_element(dsp.PostScanJobEndStateEvent(end_state=end)))
        )
        out.append(
            (dsc.PostScanJobEndStateEvent.action, dsc.to_element(dsc.PostScanJobEndStateEvent(end_state=end)))
        )
    return out


# --------------------------------------------------------------------------------------------
# sending


def _deliver(sub: Subscription, action_uri: str, body: object) -> None:
    data = eventing.build_notification(sub.notify_to, action_uri, body)  # type: ignore[arg-type]
    try:
        transport.post_one_way(sub.notify_to.address, data, timeout=NOTIFY_TIMEOUT)
    except (transport.TransportError, soap.SoapFault) as exc:
        # WS-Eventing: a source may end a subscription it cannot deliver to.
        logger.info(
            "event %s to %s failed (%s); ending the subscription", action_uri, sub.notify_to.address, exc
        )
        manager().cancel(sub.id)


_outbox: queue.SimpleQueue[tuple[Subscription, str, object]] = queue.SimpleQueue()
_sender: threading.Thread | None = None
_sender_lock = threading.Lock()


def _send_forever() -> None:
    while True:
        sub, action_uri, body = _outbox.get()
        try:
            _deliver(sub, action_uri, body)
        except Exception:  # noqa: BLE001 - one broken notification must not stop the others
            logger.exception("could not send %s to %s", action_uri, sub.notify_to.address)


def notify(messages: list[tuple[str, object]]) -> list[tuple[str, str]]:
    """Queue each message for its subscribers; returns (subscription, action) pairs.

    One sender thread per process sends them in the order they were queued, so a subscriber sees
    a job's events in the order the job went through its states, and a slow or dead subscriber
    never delays a device's answer."""
    global _sender
    mgr = manager()
    work = [
        (sub, action_uri, body) for action_uri, body in messages for sub in mgr.subscribers_for(action_uri)
    ]
    if work:
        with _sender_lock:
            if _sender is None or not _sender.is_alive():
                _sender = threading.Thread(target=_send_forever, name="scanserver-events", daemon=True)
                _sender.start()
        for item in work:
            _outbox.put(item)
    return [(sub.id, action_uri) for sub, action_uri, _ in work]


def on_job_changed(sender: object, job_id: int, **kwargs: object) -> None:
    """Receiver of ``scanserver.models.job_changed`` (sent after the commit of a transition)."""
    notify_job(job_id)


def notify_job(job_id: int) -> None:
    """Send ``job``'s current events to this process's subscribers (if it has any), and a
    RepositoryStatusSummaryEvent when the job's scan server changed between Idle and Processing."""
    if not manager().all():
        return
    fresh = ScanJob.objects.select_related("server").filter(pk=job_id).first()
    if fresh is None:
        return
    messages = event_messages(fresh)
    summary = repository_summary(fresh)
    if summary is not None:
        messages.append((dsc.RepositoryStatusSummaryEvent.action, dsc.to_element(summary)))
    notify(messages)


_last_repository_state: dict[str, str] = {}


def server_status(server: ScanServer) -> dsc.RepositoryStatus:
    """Stopped when disabled, Processing while any job waits for or is in processing, else Idle."""
    if not server.enabled:
        return dsc.RepositoryStatus(state=dsc.REPOSITORY_STATE_STOPPED, reasons=(dsc.REPOSITORY_REASON_NONE,))
    busy = ScanJob.objects.filter(server=server, state__in=[JobState.PENDING, JobState.PROCESSING]).exists()
    state = dsc.REPOSITORY_STATE_PROCESSING if busy else dsc.REPOSITORY_STATE_IDLE
    return dsc.RepositoryStatus(state=state, reasons=(dsc.REPOSITORY_REASON_NONE,))


def repository_summary(job: ScanJob) -> dsc.RepositoryStatusSummaryEvent | None:
    """The summary event to send if the job's server's repository state differs from the last one
    this process announced ([MS-BDSRR] §3.2.4.7); None when unchanged or nobody listens."""
    if job.server is None or not manager().subscribers_for(dsc.RepositoryStatusSummaryEvent.action):
        return None
    current = server_status(job.server)
    key = str(job.server.pk)
    if _last_repository_state.get(key) == current.state:
        return None
    _last_repository_state[key] = current.state
    return dsc.RepositoryStatusSummaryEvent(state=current.state, reasons=current.reasons)


async def relay(layer: Any, stop: asyncio.Event | None = None) -> None:
    """Forward job broadcasts made by other processes (workers, other replicas) to this
    process's WS-Eventing subscribers. Runs until ``stop`` is set or the task is cancelled.

    One ``receive`` is kept waiting across the once-a-second checks of ``stop``: cancelling a
    channel layer's receive after it popped a message would lose that message.
    """
    loop = asyncio.get_running_loop()
    channel = ""
    joined: float | None = None  # loop time of the last group_add (not 0.0: the loop's clock starts at boot)
    waiting: asyncio.Future[Any] | None = None
    try:
        while stop is None or not stop.is_set():
            try:
                if not channel:
                    channel = await layer.new_channel()
                if joined is None or loop.time() - joined > RELAY_REJOIN_SECONDS:
                    await layer.group_add(broadcast.JOBS_GROUP, channel)
                    joined = loop.time()
                if waiting is None:
                    waiting = asyncio.ensure_future(layer.receive(channel))
                done, _ = await asyncio.wait({waiting}, timeout=1.0)
                if not done:
                    continue
                received, waiting = waiting, None
                message = received.result()
            except Exception as exc:  # noqa: BLE001 - the broker went away: wait, then join again
                logger.warning("event relay: the channel layer failed (%s); retrying in 5 s", exc)
                if waiting is not None:
                    waiting.cancel()
                channel, joined, waiting = "", None, None
                await asyncio.sleep(5)
                continue
            await _relay_one(message)
    finally:
        if waiting is not None:
            waiting.cancel()


async def _relay_one(message: dict[str, Any]) -> None:
    """Notify our subscribers of another process's job event (our own were sent directly)."""
    if message.get("kind") != "job" or message.get("origin") == broadcast.ORIGIN:
        return
    try:
        await sync_to_async(notify_job, thread_sensitive=True)(int(message["id"]))
    except Exception:  # noqa: BLE001 - one bad message must not stop the relay
        logger.exception("could not relay the events of job %s", message.get("id"))
