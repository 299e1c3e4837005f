"""The state of a WS-Eventing 2004/08 event source and its SOAP glue (PROTOCOL.md §7.3).

:class:`SubscriptionManager` is pure, in-memory and thread-safe; :func:`register_subscription_manager`
mounts it on a :class:`soap.Dispatcher` (Subscribe, Renew, GetStatus, Unsubscribe). Messages and
xs:duration live in :mod:`devices.protocols.eventing`. Faults raised (all subcodes in the wse
namespace, codes as in WS-Eventing 2004/08 §4):

=================================  ========  =====================================================
subcode                            code      when
=================================  ========  =====================================================
DeliveryModeRequestedUnavailable   Sender    Delivery/@Mode is not Push
InvalidExpirationTime              Sender    Expires is in the past, zero, or not a valid value
UnsupportedExpirationType          Receiver  (reserved: both duration and dateTime are supported)
FilteringNotSupported              Receiver  (reserved: filtering is supported)
FilteringRequestedUnavailable      Sender    Filter dialect is not the DPWS Action dialect
                                             (a missing Dialect means XPath), empty, or names an
                                             action the source does not emit
EventSourceUnableToProcess         Receiver  too many subscriptions; an extension hook failed
InvalidMessage                     Sender    malformed Subscribe; unknown, expired or missing
                                             wse:Identifier (Renew, GetStatus, Unsubscribe)
=================================  ========  =====================================================
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lxml import etree

from devices.protocols import soap
from devices.protocols.errors import ProtocolError
from devices.protocols.eventing import (
    ACTION_GET_STATUS,
    ACTION_GET_STATUS_RESPONSE,
    ACTION_RENEW,
    ACTION_RENEW_RESPONSE,
    ACTION_SUBSCRIBE,
    ACTION_SUBSCRIBE_RESPONSE,
    ACTION_UNSUBSCRIBE,
    ACTION_UNSUBSCRIBE_RESPONSE,
    DELIVERY_MODE_PUSH,
    DELIVERY_MODE_UNAVAILABLE,
    DIALECT_ACTION,
    END_STATUSES,
    FILTERING_NOT_SUPPORTED,
    FILTERING_UNAVAILABLE,
    IDENTIFIER,
    INVALID_EXPIRATION_TIME,
    INVALID_MESSAGE,
    MAX_DURATION,
    MAX_FILTER_ACTIONS,
    UNABLE_TO_PROCESS,
    UNSUPPORTED_EXPIRATION_TYPE,
    Elements,
    EndpointReference,
    Expiry,
    ExpiryError,
    Subscribe,
    SubscribeResponse,
    SubscriptionEnd,
    expires_body,
    expires_of,
    identifier_element,
    subscribe_from_element,
    subscribe_response_to_element,
)
from devices.protocols.namespaces import WSE, qn

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# The event source's state


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Subscription:
    id: str
    notify_to: EndpointReference
    end_to: EndpointReference | None
    # None: every event; otherwise the action URIs the subscriber asked for.
    actions: frozenset[str] | None
    expires_at: dt.datetime
    extensions: Elements = field(default_factory=Elements)

    def wants(self, action_uri: str) -> bool:
        return self.actions is None or action_uri in self.actions


def _fault(subcode: tuple[str, str], reason: str) -> soap.SoapFault:
    code = (
        "Receiver"
        if subcode in (UNSUPPORTED_EXPIRATION_TYPE, FILTERING_NOT_SUPPORTED, UNABLE_TO_PROCESS)
        else "Sender"
    )
    return soap.SoapFault(code, subcode, reason)


class SubscriptionManager:
    """In-memory subscriptions of one event source; every method is safe to call from any thread.

    ``clock`` returns an aware UTC datetime (tests pass a fake). Granted expiries are capped at
    ``max_expiry``; a request without Expires gets ``default_expiry``. ``supported_actions``,
    when given, is the set of event actions the source emits: a filter naming another one is
    refused, as DPWS asks.
    """

    def __init__(
        self,
        address: str,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        max_expiry: dt.timedelta = dt.timedelta(hours=1),
        default_expiry: dt.timedelta | None = None,
        supported_actions: Iterable[str] | None = None,
        max_subscriptions: int = 256,
    ) -> None:
        self.address = address
        self._clock = clock
        self.max_expiry = max_expiry
        self.default_expiry = default_expiry or max_expiry
        self.supported_actions = frozenset(supported_actions) if supported_actions is not None else None
        self.max_subscriptions = max_subscriptions
        self._subs: dict[str, Subscription] = {}
        self._lock = threading.Lock()

    def _expiry(self, requested: Expiry | None, now: dt.datetime) -> dt.datetime:
        if requested is None:
            return now + self.default_expiry
        if isinstance(requested, dt.timedelta):
            if requested <= dt.timedelta(0):
                raise _fault(INVALID_EXPIRATION_TIME, "the requested expiration is not in the future")
            wanted = now + min(requested, MAX_DURATION)
        else:
            wanted = requested
            if wanted <= now:
                raise _fault(INVALID_EXPIRATION_TIME, "the requested expiration time is in the past")
        return min(wanted, now + self.max_expiry)

    def _actions(self, req: Subscribe) -> frozenset[str] | None:
        if req.filter_actions is None:
            return None
        if req.filter_dialect != DIALECT_ACTION:
            raise _fault(FILTERING_UNAVAILABLE, "only the DPWS Action filter dialect is supported")
        actions = frozenset(req.filter_actions)
        if not actions or len(actions) > MAX_FILTER_ACTIONS:
            raise _fault(
                FILTERING_UNAVAILABLE, "the filter must name between 1 and %d actions" % MAX_FILTER_ACTIONS
            )
        if self.supported_actions is not None:
            unknown = sorted(actions - self.supported_actions)
            if unknown:
                raise _fault(FILTERING_UNAVAILABLE, "this source does not emit %s" % unknown[0][:200])
        return actions

    def subscribe(self, req: Subscribe) -> Subscription:
        """Create a subscription or raise the WS-Eventing fault that says why not."""
        if req.delivery_mode != DELIVERY_MODE_PUSH:
            raise _fault(DELIVERY_MODE_UNAVAILABLE, "only the Push delivery mode is supported")
        if not req.notify_to.address:
            raise _fault(INVALID_MESSAGE, "Subscribe needs a NotifyTo address")
        actions = self._actions(req)
        with self._lock:
            now = self._clock()
            self._expire_locked(now)
            if len(self._subs) >= self.max_subscriptions:
                raise _fault(UNABLE_TO_PROCESS, "too many subscriptions")
            sub = Subscription(
                id="urn:uuid:%s" % uuid.uuid4(),
                notify_to=req.notify_to,
                end_to=req.end_to,
                actions=actions,
                expires_at=self._expiry(req.expires, now),
                extensions=req.extensions,
            )
            self._subs[sub.id] = sub
        log.info("subscription %s for %s until %s", sub.id, sub.notify_to.address, sub.expires_at)
        return sub

    def _live(self, sub_id: str, now: dt.datetime) -> Subscription:
        sub = self._subs.get(sub_id)
        if sub is None or sub.expires_at <= now:
            self._subs.pop(sub_id, None)
            raise _fault(INVALID_MESSAGE, "unknown or expired subscription")
        return sub

    def renew(self, sub_id: str, expires: Expiry | None) -> Subscription:
        with self._lock:
            now = self._clock()
            sub = self._live(sub_id, now)
            renewed = Subscription(
                sub.id, sub.notify_to, sub.end_to, sub.actions, self._expiry(expires, now), sub.extensions
            )
            self._subs[sub_id] = renewed
            return renewed

    def get_status(self, sub_id: str) -> Subscription:
        with self._lock:
            return self._live(sub_id, self._clock())

    def unsubscribe(self, sub_id: str) -> Subscription:
        with self._lock:
            sub = self._live(sub_id, self._clock())
            del self._subs[sub_id]
            return sub

    def cancel(self, sub_id: str) -> Subscription | None:
        """Drop a subscription from the source's side (delivery failure, shutdown); None if unknown."""
        with self._lock:
            return self._subs.pop(sub_id, None)

    def _expire_locked(self, now: dt.datetime) -> list[Subscription]:
        gone = [s for s in self._subs.values() if s.expires_at <= now]
        for s in gone:
            del self._subs[s.id]
        return gone

    def expire(self) -> list[Subscription]:
        """Remove and return the subscriptions whose expiry has passed by ``clock``."""
        with self._lock:
            return self._expire_locked(self._clock())

    def subscribers_for(self, action_uri: str) -> list[Subscription]:
        """Live subscriptions whose filter admits ``action_uri``, oldest first."""
        with self._lock:
            now = self._clock()
            return [s for s in self._subs.values() if s.expires_at > now and s.wants(action_uri)]

    def all(self) -> list[Subscription]:
        with self._lock:
            return list(self._subs.values())

    def remaining(self, sub: Subscription) -> dt.timedelta:
        """Time left on ``sub`` (never negative), as written into responses."""
        return max(sub.expires_at - self._clock(), dt.timedelta(0))

    def manager_epr(self, sub: Subscription) -> EndpointReference:
        return EndpointReference(self.address, Elements.of([identifier_element(sub.id)]))

    def subscription_end(self, sub: Subscription, status: str, reason: str | None = None) -> SubscriptionEnd:
        if status not in END_STATUSES:
            raise ValueError("unknown SubscriptionEnd status %s" % status)
        return SubscriptionEnd(self.manager_epr(sub), status, reason)


# --------------------------------------------------------------------------------------------
# Dispatcher glue

ExtensionHook = Callable[[Subscription, Subscribe], Iterable[etree._Element]]


def identifier_of(envelope: soap.Envelope) -> str:
    """The ``wse:Identifier`` header of a Renew/GetStatus/Unsubscribe, or an InvalidMessage fault."""
    for h in envelope.header_elements:
        if h.tag == IDENTIFIER and (h.text or "").strip():
            return (h.text or "").strip()
    raise _fault(INVALID_MESSAGE, "the message has no wse:Identifier header")


def _body(envelope: soap.Envelope, local: str) -> etree._Element | None:
    body = envelope.body
    if body is not None and body.tag != qn(WSE, local):
        raise _fault(INVALID_MESSAGE, "expected wse:%s in the Body" % local)
    return body


def register_subscription_manager(
    dispatcher: soap.Dispatcher, manager: SubscriptionManager, extension_hook: ExtensionHook | None = None
) -> None:
    """Mount Subscribe, Renew, GetStatus and Unsubscribe for ``manager`` on ``dispatcher``.

    ``extension_hook(subscription, request)`` returns the extension elements of the
    SubscribeResponse (WS-Scan answers ``wscn:ScanDestinations`` with ``wscn:DestinationResponses``);
    if it raises, the subscription is withdrawn and the fault (or EventSourceUnableToProcess)
    goes back to the subscriber.
    """

    def subscribe(envelope: soap.Envelope) -> soap.HandlerResult:
        body = _body(envelope, "Subscribe")
        if body is None:
            raise _fault(INVALID_MESSAGE, "Subscribe has an empty Body")
        try:
            req = subscribe_from_element(body)
        except ExpiryError as exc:
            raise _fault(INVALID_EXPIRATION_TIME, str(exc)) from None
        except ProtocolError as exc:
            raise _fault(INVALID_MESSAGE, str(exc)) from None
        sub = manager.subscribe(req)
        extensions: Iterable[etree._Element] = ()
        if extension_hook is not None:
            try:
                extensions = list(extension_hook(sub, req))
            except soap.SoapFault:
                manager.cancel(sub.id)
                raise
            except Exception:
                manager.cancel(sub.id)
                log.exception("subscription extension hook failed for %s", sub.id)
                raise _fault(
                    UNABLE_TO_PROCESS, "the event source could not process the subscription"
                ) from None
        resp = SubscribeResponse(manager.manager_epr(sub), manager.remaining(sub), Elements.of(extensions))
        return ACTION_SUBSCRIBE_RESPONSE, subscribe_response_to_element(resp)

    def renew(envelope: soap.Envelope) -> soap.HandlerResult:
        body = _body(envelope, "Renew")
        try:
            expires = expires_of(body) if body is not None else None
        except ProtocolError as exc:
            raise _fault(INVALID_EXPIRATION_TIME, str(exc)) from None
        sub = manager.renew(identifier_of(envelope), expires)
        return ACTION_RENEW_RESPONSE, expires_body("RenewResponse", manager.remaining(sub))

    def get_status(envelope: soap.Envelope) -> soap.HandlerResult:
        sub = manager.get_status(identifier_of(envelope))
        return ACTION_GET_STATUS_RESPONSE, expires_body("GetStatusResponse", manager.remaining(sub))

    def unsubscribe(envelope: soap.Envelope) -> soap.HandlerResult:
        manager.unsubscribe(identifier_of(envelope))
        return ACTION_UNSUBSCRIBE_RESPONSE, None

    dispatcher.register(ACTION_SUBSCRIBE, subscribe)
    dispatcher.register(ACTION_RENEW, renew)
    dispatcher.register(ACTION_GET_STATUS, get_status)
    dispatcher.register(ACTION_UNSUBSCRIBE, unsubscribe)
