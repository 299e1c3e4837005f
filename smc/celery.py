"""The Celery application (``celery -A smc worker -Q ingest,deliver,devices``).

Queues: ``ingest`` (decode and check received pages, build documents), ``deliver`` (send
documents to destinations, with retries) and ``devices`` (device operations, subscription
renewals, health polls). In the embedded default (no ``SMC_REDIS_URL``) tasks run in-process
when they are sent (``CELERY_TASK_ALWAYS_EAGER``), so no worker is needed.
"""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smc.settings")

QUEUES = ("ingest", "deliver", "devices")

app = Celery("smc")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = tuple(Queue(name) for name in QUEUES)
app.conf.task_default_queue = "ingest"
app.conf.task_routes = {
    "scanserver.tasks.deliver_*": {"queue": "deliver"},
    "devices.tasks.*": {"queue": "devices"},
    "smc.tasks.*": {"queue": "devices"},
}
app.autodiscover_tasks()
