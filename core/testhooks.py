"""Hooks the crash tests use to slow a step down, so they have time to kill a worker mid-step.

``SMC_PIPELINE_TEST_DELAY="build=2,deliver=2"`` (parsed once, in ``smc/settings.py``, into
``settings.SCANSERVER_PIPELINE_TEST_DELAYS``) gives the seconds to sleep per page built and per
document delivered. Unset, every pause is a no-op.
"""

from __future__ import annotations

import time

from django.conf import settings


def test_pause(step: str) -> None:
    """Sleep the seconds configured for ``step`` ("build", "deliver"), if any."""
    delays: dict[str, float] = getattr(settings, "SCANSERVER_PIPELINE_TEST_DELAYS", None) or {}
    delay = delays.get(step)
    if delay:
        time.sleep(delay)
