"""OpenDSM settings: one module, driven by ``SMC_*`` environment variables (STYLE.md habit 1).

With nothing set, OpenDSM boots on its embedded defaults: SQLite under ``SMC_DATA_DIR``, the
in-memory channel layer, Celery tasks run in-process, users and groups in the database.
``SMC_DATABASE_URL`` (PostgreSQL), ``SMC_REDIS_URL`` (Celery broker + channels-redis) and
``SMC_LDAP_URI`` (with the other ``SMC_LDAP_*``) switch on the real services. A bad value stops
the process at start with a message that names the variable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from core.env import DatabaseURL, Env
from directory.ldapconf import ldap_settings

env = Env()

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.text("SMC_DATA_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env.flag("SMC_DEBUG", False)
SECRET_KEY = env.text("SMC_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and env.flag("SMC_REQUIRE_SECRET_KEY", False):
        raise ImproperlyConfigured("SMC_SECRET_KEY must be set (SMC_REQUIRE_SECRET_KEY is on)")
    # Embedded default: a key kept in the data directory, made once, so sessions survive restarts.
    key_file = DATA_DIR / "secret_key"
    if key_file.exists():
        SECRET_KEY = key_file.read_text().strip()
    else:
        import secrets

        SECRET_KEY = secrets.token_urlsafe(50)
        try:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            key_file.write_text(SECRET_KEY)
            key_file.chmod(0o600)
        except OSError:
            pass

ALLOWED_HOSTS = env.items("SMC_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.items("SMC_CSRF_TRUSTED_ORIGINS", [])
SITE_NAME = env.text("SMC_SITE_NAME", "OpenDSM")
SECRET_BOX_KEY = env.text("SMC_SECRET_BOX_KEY")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "core",
    "directory",
    "devices",
    "scanprocesses",
    "scanserver",
    "smc",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "smc.urls"
ASGI_APPLICATION = "smc.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.roles.context_processor",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
_db_url = env.url("SMC_DATABASE_URL", ("postgres", "postgresql", "sqlite"))
if _db_url:
    DATABASES = {"default": DatabaseURL.parse("SMC_DATABASE_URL", _db_url).django()}
    # Test runs get their own database per process, so two suites on one PostgreSQL (a developer
    # and CI, or parallel sessions) never drop each other's test database.
    _test_name = env.text("SMC_TEST_DATABASE_NAME") or (
        "test_%s_%d" % (DATABASES["default"]["NAME"], os.getpid()) if "pytest" in sys.modules else ""
    )
    if _test_name:
        DATABASES["default"]["TEST"] = {"NAME": _test_name}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "opendsm.sqlite3",
            # WAL: readers never wait for the writer. IMMEDIATE: a transaction takes the write lock
            # when it begins, so two writers (a request and the in-process worker thread, or the
            # maintenance process) queue for it instead of failing with "database is locked"
            # halfway; ``timeout`` is how long they queue (Python's default is 5 s).
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and channel layer ---------------------------------------------------
REDIS_URL = env.url("SMC_REDIS_URL", ("redis", "rediss"))
if REDIS_URL:
    # channels-redis blocks 5 s in BZPOPMIN while waiting for a message, and redis-py 8's default
    # socket timeout is also 5 s: the read then times out and an idle receive fails. A longer socket
    # timeout keeps a quiet channel (the console's websockets, the scan server's relay) alive.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    # Embedded default: tasks run in-process, synchronously, when they are sent. Processing a scan
    # job is not sent from a request: it goes to the process's worker thread (scanserver.inprocess).
    CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "ingest"
CELERY_TASK_QUEUES_NAMES = ("ingest", "deliver", "devices")
CELERY_TIMEZONE = "UTC"

# --- Directory (AD / OpenLDAP) ----------------------------------------------------------------
LDAP = ldap_settings(env)
globals().update(LDAP.django_settings())
AUTHENTICATION_BACKENDS = [
    *(["directory.ldapauth.DirectoryBackend"] if LDAP.enabled else []),
    "django.contrib.auth.backends.ModelBackend",
]

if "pytest" in sys.modules:
    # Test runs create many users; the production hasher's deliberate slowness only costs time there.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.flag("SMC_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Scan server --------------------------------------------------------------------------------
SCANSERVER_SPOOL_DIR = Path(env.text("SMC_SPOOL_DIR", str(DATA_DIR / "spool"))).resolve()
SCANSERVER_ALLOW_PLAIN_HTTP = env.flag("SMC_SCANSERVER_ALLOW_PLAIN_HTTP", False)
# Read here (not where used) so that a bad value stops the process at start, naming the variable.
SCANSERVER_GUID = env.text("SMC_SCANSERVER_GUID")
SCANSERVER_JOB_TIMEOUT = env.number("SMC_SCANSERVER_JOB_TIMEOUT", 600, minimum=10, maximum=86_400)
SCANSERVER_STUCK_TIMEOUT = env.number("SMC_SCANSERVER_STUCK_TIMEOUT", 1800, minimum=60, maximum=86_400)
# Every job reaches an end state within this many seconds of EndPostScanJob (or of an operator's
# retry), and is resumed after a dead worker at most SMC_SCANSERVER_MAX_RESUMES times (scanserver.recovery).
SCANSERVER_JOB_DEADLINE = env.number("SMC_SCANSERVER_JOB_DEADLINE", 21_600, minimum=60, maximum=7 * 86_400)
SCANSERVER_MAX_RESUMES = env.number("SMC_SCANSERVER_MAX_RESUMES", 5, minimum=1, maximum=100)
SCANSERVER_MAX_PART_BYTES = env.number("SMC_SCANSERVER_MAX_PART_BYTES", 512 * 1024 * 1024, minimum=1024)
SCANSERVER_CONSOLE_TOKEN = env.text("SMC_SCANSERVER_CONSOLE_TOKEN")
# Without a broker: process on the scan server's in-process worker thread, not inside the request
# (scanserver.inprocess); off = synchronously in the request, as eager Celery does.
SCANSERVER_BACKGROUND_TASKS = env.flag("SMC_SCANSERVER_BACKGROUND_TASKS", True)
# Threads per scan-server process; 0 = 1 on SQLite (one writer), 8 otherwise (scanserver.conf.threads).
SCANSERVER_THREADS = env.number("SMC_SCANSERVER_THREADS", 0, minimum=0, maximum=64)
SCANSERVER_MAX_PIXELS = env.number("SMC_SCANSERVER_MAX_PIXELS", 150_000_000, minimum=1_000_000)
SCANSERVER_DELIVERY_MAX_ATTEMPTS = env.number("SMC_DELIVERY_MAX_ATTEMPTS", 5, minimum=1, maximum=50)
SCANSERVER_DELIVERY_BACKOFF = env.number("SMC_DELIVERY_BACKOFF", 30, minimum=0, maximum=3600)
# Modes of what the folder destination writes: files readable by the share's group, folders it
# creates enterable by it (existing folders keep theirs).
SCANSERVER_DELIVERED_FILE_MODE = env.file_mode("SMC_DELIVERED_FILE_MODE", 0o640)
SCANSERVER_DELIVERED_DIR_MODE = env.file_mode("SMC_DELIVERED_DIR_MODE", 0o750)
SCANSERVER_OCR_LANGUAGE = env.text("SMC_OCR_LANGUAGE", "eng")
SCANSERVER_OCR_TIMEOUT = env.number("SMC_OCR_TIMEOUT", 300, minimum=10, maximum=3600)
# Crash tests only (core.testhooks): seconds to pause per step, e.g. "build=2,deliver=2".
SCANSERVER_PIPELINE_TEST_DELAYS = env.seconds_by_key("SMC_PIPELINE_TEST_DELAY")

# Outgoing mail (the e-mail destination); a scan process may name its own SMTP server.
EMAIL_HOST = env.text("SMC_SMTP_HOST", "localhost")
EMAIL_PORT = env.number("SMC_SMTP_PORT", 25, minimum=1, maximum=65535)
EMAIL_USE_TLS = env.flag("SMC_SMTP_STARTTLS", False)
EMAIL_USE_SSL = env.flag("SMC_SMTP_SSL", False)
DEFAULT_FROM_EMAIL = env.text("SMC_MAIL_FROM", "opendsm@localhost")

# Periodic work: deliveries whose retry time has come, jobs whose worker vanished, jobs whose
# device never sent EndPostScanJob. Run `celery -A smc beat`; the embedded default runs the
# same tasks from `manage.py run_maintenance` (scripts/run.sh starts it).
CELERY_BEAT_SCHEDULE = {
    "deliver-due": {"task": "scanserver.tasks.deliver_due", "schedule": 30.0},
    "recover-stuck": {"task": "scanserver.tasks.recover", "schedule": 60.0},
    "reap-jobs": {"task": "scanserver.tasks.reap", "schedule": 60.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": env.choice("SMC_LOG_LEVEL", ("debug", "info", "warning", "error"), "info").upper(),
    },
    "loggers": {"django_auth_ldap": {"level": "INFO"}},
}
