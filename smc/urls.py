"""The console's URLs, grouped by page family (one ``smc.views`` module each)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from smc.views import audit, auth, dashboard, fleet, health, jobs, processes

handler403 = "smc.views.auth.permission_denied"

urlpatterns = [
    # auth and health
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    # dashboard
    path("", dashboard.dashboard, name="dashboard"),
    # fleet
    path("devices/", fleet.devices, name="devices"),
    path("devices/<int:pk>/", fleet.device_detail, name="device_detail"),
    path("devices/refusals/", fleet.refusals, name="refusals"),
    path("scan-servers/", fleet.scan_servers, name="scan_servers"),
    # processes
    path("scan-processes/", processes.process_list, name="scan_processes"),
    path("scan-processes/new/", processes.process_create, name="process_create"),
    path("scan-processes/import/", processes.process_import, name="process_import"),
    path("scan-processes/naming-preview/", processes.naming_preview, name="process_naming_preview"),
    path("scan-processes/groups/", processes.group_search, name="process_group_search"),
    path("scan-processes/<uuid:guid>/", processes.process_detail, name="process_detail"),
    path("scan-processes/<uuid:guid>/edit/", processes.process_edit, name="process_edit"),
    path("scan-processes/<uuid:guid>/publish/", processes.process_publish, name="process_publish"),
    path("scan-processes/<uuid:guid>/unpublish/", processes.process_unpublish, name="process_unpublish"),
    path("scan-processes/<uuid:guid>/delete/", processes.process_delete, name="process_delete"),
    path("scan-processes/<uuid:guid>/archive/", processes.process_archive, name="process_archive"),
    path("scan-processes/<uuid:guid>/clone/", processes.process_clone, name="process_clone"),
    path("scan-processes/<uuid:guid>/versions/", processes.process_versions, name="process_versions"),
    path(
        "scan-processes/<uuid:guid>/versions/<int:number>/rollback/",
        processes.process_rollback,
        name="process_rollback",
    ),
    path("scan-processes/<uuid:guid>/export/", processes.process_export, name="process_export"),
    path("scan-processes/<uuid:guid>/dry-run/", processes.process_dry_run, name="process_dry_run"),
    path(
        "scan-processes/<uuid:guid>/adopt-directory/",
        processes.process_adopt_directory,
        name="process_adopt_directory",
    ),
    # jobs
    path("jobs/", jobs.jobs, name="jobs"),
    path("jobs/<uuid:token>/", jobs.job_detail, name="job_detail"),
    path("jobs/<uuid:token>/retry", jobs.job_retry, name="job_retry"),
    path("jobs/<uuid:token>/cancel", jobs.job_cancel, name="job_cancel"),
    # audit
    path("audit/", audit.audit_log, name="audit"),
    path("django-admin/", admin.site.urls),
]
