"""The yardstick's endpoints, at the same paths as ours."""

from django.urls import path

from . import views

urlpatterns = [
    path("crm-api/meta/webhook/", views.webhook),
    path("crm-api/paynow/ipn/", views.ipn),
    path("healthz", views.healthz),
]
