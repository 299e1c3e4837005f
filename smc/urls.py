from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from smc import views

handler403 = "smc.views.permission_denied"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("devices/", views.devices, name="devices"),
    path("scan-processes/", views.scan_processes, name="scan_processes"),
    path("jobs/", views.jobs, name="jobs"),
    path("scan-servers/", views.scan_servers, name="scan_servers"),
    path("audit/", views.audit, name="audit"),
    path("healthz", views.healthz, name="healthz"),
    path("django-admin/", admin.site.urls),
]
