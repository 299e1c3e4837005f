from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from smc import views, views_jobs, views_processes

handler403 = "smc.views.permission_denied"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("devices/", views_jobs.devices, name="devices"),
    path("devices/<int:pk>/", views_jobs.device_detail, name="device_detail"),
    path("devices/refusals/", views_jobs.refusals, name="refusals"),
    path("scan-processes/", views_processes.process_list, name="scan_processes"),
    path("scan-processes/new/", views_processes.process_create, name="process_create"),
    path("scan-processes/import/", views_processes.process_import, name="process_import"),
    path("scan-processes/naming-preview/", views_processes.naming_preview, name="process_naming_preview"),
    path("scan-processes/groups/", views_processes.group_search, name="process_group_search"),
    path("scan-processes/<uuid:guid>/", views_processes.process_detail, name="process_detail"),
    path("scan-processes/<uuid:guid>/edit/", views_processes.process_edit, name="process_edit"),
    path("scan-processes/<uuid:guid>/publish/", views_processes.process_publish, name="process_publish"),
    path(
        "scan-processes/<uuid:guid>/unpublish/", views_processes.process_unpublish, name="process_unpublish"
    ),
    path("scan-processes/<uuid:guid>/delete/", views_processes.process_delete, name="process_delete"),
    path("scan-processes/<uuid:guid>/archive/", views_processes.process_archive, name="process_archive"),
    path("scan-processes/<uuid:guid>/clone/", views_processes.process_clone, name="process_clone"),
    path("scan-processes/<uuid:guid>/versions/", views_processes.process_versions, name="process_versions"),
    path(
        "scan-processes/<uuid:guid>/versions/<int:number>/rollback/",
        views_processes.process_rollback,
        name="process_rollback",
    ),
    path("scan-processes/<uuid:guid>/export/", views_processes.process_export, name="process_export"),
    path("scan-processes/<uuid:guid>/dry-run/", views_processes.process_dry_run, name="process_dry_run"),
    path(
        "scan-processes/<uuid:guid>/adopt-directory/",
        views_processes.process_adopt_directory,
        name="process_adopt_directory",
    ),
    path("jobs/", views_jobs.jobs, name="jobs"),
    path("jobs/<uuid:token>/", views_jobs.job_detail, name="job_detail"),
    path("jobs/<uuid:token>/retry", views_jobs.job_retry, name="job_retry"),
    path("jobs/<uuid:token>/cancel", views_jobs.job_cancel, name="job_cancel"),
    path("scan-servers/", views_jobs.scan_servers, name="scan_servers"),
    path("audit/", views.audit, name="audit"),
    path("healthz", views.healthz, name="healthz"),
    path("django-admin/", admin.site.urls),
]
