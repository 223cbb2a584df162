"""URL map: every public endpoint lives under /crm-api/, plus /admin/, /healthz, /readyz
and /metrics."""

from django.contrib import admin
from django.urls import include, path

from monitoring import views as monitoring_views

crm_api = [
    path("paynow/", include("paynow_integration.urls")),
    path("meta/", include("meta_integration.urls")),
    path("flows/", include("flows.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("crm-api/", include(crm_api)),
    path("healthz", monitoring_views.healthz, name="healthz"),
    path("readyz", monitoring_views.readyz, name="readyz"),
    path("metrics", monitoring_views.metrics, name="metrics"),
]
