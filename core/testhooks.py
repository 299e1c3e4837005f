"""Hooks the crash tests use to slow a step down, so they have time to kill a worker mid-step.

``SMC_PIPELINE_TEST_DELAY="build=2,deliver=2"`` (parsed once, in ``smc/settings.py``, into
``settings.SCANSERVER_PIPELINE_TEST_DELAYS``) gives the seconds to sleep per page built and per
document delivered. Unset, every pause is a no-op.

The named points, in the order one job passes them (each is a commit boundary of the worker's
path; ``tests/scanserver/test_crash_points.py`` kills a worker at every one):

==========  =====================================================================================
queued      ``process_job`` took the message; the job is still ``pending``
claimed     the job is ``processing``; nothing built yet (``pipeline.process``)
build       before each page of a document is built
built       every document built and recorded; no deliveries planned yet
planned     the deliveries are planned (committed); none sent yet (``tasks.process_job``)
deliver     before each document is placed in a folder destination (``destinations.folder``)
delivered   a destination has every document; the delivery is still ``sending`` in the database
sent        one delivery's outcome (and the job's settle) committed (``tasks.deliver``)
events      a job transition committed, its ``job_changed`` event not yet sent (``models``)
==========  =====================================================================================
"""

from __future__ import annotations

import time

from django.conf import settings


def test_pause(step: str) -> None:
    """Sleep the seconds configured for ``step`` (one of the points above), if any."""
    delays: dict[str, float] = getattr(settings, "SCANSERVER_PIPELINE_TEST_DELAYS", None) or {}
    delay = delays.get(step)
    if delay:
        time.sleep(delay)
