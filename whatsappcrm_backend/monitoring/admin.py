"""The operations dashboard inside the admin, at /admin/monitoring/dashboard/ (staff only).

No model backs it, so instead of a ModelAdmin the admin site gets one extra URL (wrapped in
``admin_view``: staff login required) and one extra entry on its index and sidebar.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import admin
from django.urls import path, reverse

from . import views

APP_LABEL = "monitoring"
URL_NAME = "monitoring_dashboard"


def install_dashboard(site: admin.AdminSite) -> None:
    """Add the dashboard URL and index entry to ``site`` (idempotent)."""
    if getattr(site, "_monitoring_dashboard_installed", False):
        return
    site._monitoring_dashboard_installed = True
    original_get_urls = site.get_urls
    original_get_app_list = site.get_app_list

    def dashboard_view(request):
        return views.dashboard(request, admin_context=site.each_context(request))

    @wraps(original_get_urls)
    def get_urls():
        custom = [
            path(
                "monitoring/dashboard/",
                site.admin_view(dashboard_view),
                name=URL_NAME,
            )
        ]
        return custom + original_get_urls()

    @wraps(original_get_app_list)
    def get_app_list(request, app_label=None):
        app_list = original_get_app_list(request, app_label)
        if app_label not in (None, APP_LABEL) or not request.user.is_staff:
            return app_list
        url = reverse(f"{site.name}:{URL_NAME}")
        entry = {
            "name": "Monitoring",
            "app_label": APP_LABEL,
            "app_url": url,
            "has_module_perms": True,
            "models": [
                {
                    "name": "Operations dashboard",
                    "object_name": "Dashboard",
                    "perms": {"view": True},
                    "admin_url": url,
                    "add_url": None,
                    "view_only": True,
                }
            ],
        }
        return [entry, *app_list]

    site.get_urls = get_urls
    site.get_app_list = get_app_list


install_dashboard(admin.site)
