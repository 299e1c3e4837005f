"""Console-side background tasks."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="smc.tasks.ping", acks_late=True)
def ping(token: str) -> str:
    """Answers ``pong:<token>``; /healthz and the test suite use it to prove a worker consumes
    the broker (asynchronous by nature: the point is that another process answered)."""
    return "pong:%s" % token
