"""The audit log: who did what to which object, and what changed.

Every create, edit, publish, unpublish, delete, archive, rollback and import in the console is
written here with :func:`record`, in the same transaction as the change itself, so a rolled-back
change leaves no audit row and a committed one always has one. Rows are append-only
(``AuditEvent.save`` refuses updates). Secrets never reach ``detail``: :func:`field_diff`
replaces the values of secret fields by a marker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.utils import timezone

from core.models import AuditEvent

log = logging.getLogger(__name__)

ACTIONS: tuple[str, ...] = (
    "create",
    "edit",
    "publish",
    "unpublish",
    "delete",
    "archive",
    "restore",
    "rollback",
    "import",
    "clone",
)
SECRET_FIELDS = frozenset({"secret", "password", "token", "bearer_token"})
SECRET_MARKER = "(changed)"
PAGE_SIZE = 50


def actor_name(actor: Any) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    return str(getattr(actor, "username", None) or actor)


def record(actor: Any, action: str, obj: Model | None, detail: Mapping[str, Any] | None = None) -> AuditEvent:
    """Append one audit event; ``obj`` may be an instance about to be deleted (its id is kept)."""
    object_type = "" if obj is None else obj._meta.model_name or ""
    event = AuditEvent.objects.create(
        actor=actor_name(actor)[:255],
        action=action[:64],
        object_type=object_type[:64],
        object_id="" if obj is None or obj.pk is None else str(obj.pk)[:64],
        object_repr="" if obj is None else str(obj)[:255],
        detail=dict(detail or {}),
    )
    log.info("audit: %s %s %s %s", event.actor, action, object_type, event.object_id)
    return event


def field_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value differs; secrets show only that they changed."""
    changes: dict[str, list[Any]] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in SECRET_FIELDS:
            changes[key] = [SECRET_MARKER, SECRET_MARKER]
        else:
            changes[key] = [old, new]
    return changes


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    object_type: str = ""
    object_id: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.actor:
            events = events.filter(actor__iexact=self.actor)
        if self.object_type:
            events = events.filter(object_type=self.object_type)
        if self.object_id:
            events = events.filter(object_id=self.object_id)
        if self.action:
            events = events.filter(action=self.action)
        tz = timezone.get_current_timezone()
        if self.since is not None:
            events = events.filter(at__gte=datetime.combine(self.since, time.min, tzinfo=tz))
        if self.until is not None:
            # The whole "until" day is included.
            end = datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=tz)
            events = events.filter(at__lt=end)
        return events


def search(filters: AuditFilter, page: int | str | None = 1, per_page: int = PAGE_SIZE) -> Page[AuditEvent]:
    events = filters.apply(AuditEvent.objects.all()).order_by("-at", "-pk")
    return Paginator(events, per_page).get_page(page)


def choices() -> dict[str, Iterable[str]]:
    """Values the filter form offers: actors and object types seen so far, every action."""
    return {
        "actors": AuditEvent.objects.order_by("actor").values_list("actor", flat=True).distinct(),
        "object_types": AuditEvent.objects.order_by("object_type")
        .values_list("object_type", flat=True)
        .distinct(),
        "actions": ACTIONS,
    }


def for_object(obj: Model, limit: int = 20) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(object_type=obj._meta.model_name, object_id=str(obj.pk)).order_by(
        "-at", "-pk"
    )[:limit]
