"""The Scan Management Console: Django project package and console app."""

from __future__ import annotations

from smc.celery import app as celery_app

__all__ = ["celery_app"]
