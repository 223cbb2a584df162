"""WhatsApp Flows endpoints under /crm-api/flows/."""

from django.urls import path

from . import data_endpoint

app_name = "flows"

urlpatterns = [
    path(
        "paynow-payment-webhook/",
        data_endpoint.paynow_payment_webhook,
        name="paynow_payment_webhook",
    ),
]
