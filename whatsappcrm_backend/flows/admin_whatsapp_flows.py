"""Admin for WhatsApp Flows (Flows → WhatsApp Flows) and their form sessions."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from .flow_json import validate_flow_json
from .models import FlowFormSession, WhatsAppFlow


class WhatsAppFlowForm(forms.ModelForm):
    class Meta:
        model = WhatsAppFlow
        fields = ["name", "flow_id", "status", "sync_status", "description", "flow_json"]

    def clean_flow_json(self):
        flow_json = self.cleaned_data.get("flow_json")
        if flow_json:
            problems = validate_flow_json(flow_json)
            if problems:
                raise forms.ValidationError([str(p) for p in problems[:20]])
        return flow_json


@admin.register(WhatsAppFlow)
class WhatsAppFlowAdmin(admin.ModelAdmin):
    """The guide's step 4: name ``payment_whatsapp_flow``, the Flow ID from Meta, PUBLISHED.

    The Flow JSON is filled by ``register_whatsapp_flow`` from the code's definition and shown
    read-only; paste one only when the record is created by hand (it is validated).
    """

    form = WhatsAppFlowForm
    list_display = ("name", "flow_id", "status", "sync_status", "updated_at")
    list_filter = ("status", "sync_status")
    search_fields = ("name", "flow_id")
    readonly_fields = ("flow_json_pretty", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "flow_id", "status", "sync_status", "description")}),
        ("Flow JSON", {"fields": ("flow_json_pretty", "flow_json")}),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is not None and obj.flow_json:
            # An existing definition is read-only: it comes from code (register_whatsapp_flow).
            return (
                (None, {"fields": ("name", "flow_id", "status", "sync_status", "description")}),
                ("Flow JSON", {"fields": ("flow_json_pretty",)}),
                ("Timestamps", {"fields": ("created_at", "updated_at")}),
            )
        return super().get_fieldsets(request, obj)

    @admin.display(description="Flow JSON")
    def flow_json_pretty(self, obj: WhatsAppFlow) -> str:
        if not obj or not obj.flow_json:
            return "—"
        text = json.dumps(obj.flow_json, indent=2, ensure_ascii=False)
        return format_html(
            '<pre style="max-height:40em;overflow:auto;white-space:pre">{}</pre>', text
        )


@admin.register(FlowFormSession)
class FlowFormSessionAdmin(admin.ModelAdmin):
    """Every payment form sent: read-only (the flow token's server-side record)."""

    list_display = (
        "created_at",
        "booking",
        "contact",
        "amount",
        "purpose",
        "status",
        "payment",
        "expires_at",
    )
    list_filter = ("status", "purpose")
    search_fields = ("booking__booking_reference", "contact__whatsapp_id", "token_id")
    list_select_related = ("booking", "contact", "payment", "whatsapp_flow")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # staff with view permission see it read-only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
