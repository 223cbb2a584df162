"""Meta (WhatsApp Cloud API) endpoints under /crm-api/meta/."""

from django.urls import path

from . import views

app_name = "meta_integration"

urlpatterns = [
    path("webhook/", views.webhook, name="webhook"),
]
