"""Admin: WhatsApp numbers (secrets write-only), the webhook log with replay, what could not be
read in it, and what Meta reports about the account and its message templates."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from .models import (
    DEFAULT_GRAPH_BASE_URL,
    AccountUpdate,
    MessageTemplate,
    MetaAppConfig,
    SkippedWebhookItem,
    WebhookEvent,
)
from .services import webhook as intake

SECRET_FIELDS = ("access_token", "app_secret", "previous_app_secret")


class MetaAppConfigForm(forms.ModelForm):
    """Secrets are write-only: never rendered, and a blank field keeps the stored value."""

    access_token = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    app_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    previous_app_secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    graph_base_url = forms.URLField(
        label="Graph API base URL",
        assume_scheme="https",
        initial=DEFAULT_GRAPH_BASE_URL,
        help_text="Point it at the WhatsApp emulator to move every Graph call there.",
    )
    keep_old_app_secret = forms.BooleanField(
        required=False,
        initial=True,
        label="Keep the old app secret during rotation",
        help_text="When a new app secret is entered, keep accepting webhooks signed with the "
        "current one (it becomes the previous secret).",
    )
    clear_previous_app_secret = forms.BooleanField(
        required=False,
        label="Forget the previous app secret",
        help_text="Tick once the rotation is over.",
    )

    class Meta:
        model = MetaAppConfig
        fields = [
            "name",
            "phone_number_id",
            "waba_id",
            "display_phone_number",
            "access_token",
            "app_secret",
            "previous_app_secret",
            "verify_token",
            "api_version",
            "graph_base_url",
            "is_active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            self.initial.pop(name, None)  # the stored value never reaches the page
            stored = bool(self.instance.pk and getattr(self.instance, name))
            self.fields[name].help_text = (
                "A value is stored (hidden). Leave blank to keep it." if stored else "Not set."
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        typed = {name: cleaned.get(name) or "" for name in SECRET_FIELDS}
        stored = {name: getattr(self.instance, name, "") or "" for name in SECRET_FIELDS}
        editing = self.instance.pk is not None
        for name in SECRET_FIELDS:
            cleaned[name] = typed[name] or (stored[name] if editing else "")
        rotating = (
            editing
            and typed["app_secret"]
            and stored["app_secret"]
            and typed["app_secret"] != stored["app_secret"]
        )
        if rotating and cleaned.get("keep_old_app_secret") and not typed["previous_app_secret"]:
            cleaned["previous_app_secret"] = stored["app_secret"]
        if cleaned.get("clear_previous_app_secret"):
            cleaned["previous_app_secret"] = ""
        return cleaned


@admin.register(MetaAppConfig)
class MetaAppConfigAdmin(admin.ModelAdmin):
    form = MetaAppConfigForm
    list_display = (
        "__str__",
        "phone_number_id",
        "display_phone_number",
        "api_version",
        "graph_base_url",
        "is_active",
        "secrets_state",
    )
    list_filter = ("is_active",)
    search_fields = ("name", "phone_number_id", "display_phone_number", "waba_id")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "phone_number_id", "waba_id", "display_phone_number")}),
        (
            "Credentials (write-only)",
            {
                "fields": (
                    "access_token",
                    "app_secret",
                    "keep_old_app_secret",
                    "previous_app_secret",
                    "clear_previous_app_secret",
                    "verify_token",
                )
            },
        ),
        ("Graph API", {"fields": ("api_version", "graph_base_url", "is_active")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="secrets")
    def secrets_state(self, obj: MetaAppConfig) -> str:
        parts = [
            f"token {'set' if obj.access_token else 'MISSING'}",
            f"app secret {'set' if obj.app_secret else 'MISSING'}",
        ]
        if obj.previous_app_secret:
            parts.append("rotating")
        return ", ".join(parts)


class SkippedItemInline(admin.TabularInline):
    model = SkippedWebhookItem
    extra = 0
    can_delete = False
    fields = ("kind", "path", "reason", "wamid")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: WebhookEvent | None = None) -> bool:
        return False


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    inlines = [SkippedItemInline]
    list_display = (
        "id",
        "received_at",
        "phone_number_id",
        "valid",
        "processed",
        "delivery_count",
        "short_exception",
    )
    list_filter = ("valid", "processed", "phone_number_id")
    search_fields = ("body_sha256", "body")
    date_hierarchy = "received_at"
    actions = ["replay"]
    readonly_fields = (
        "received_at",
        "last_received_at",
        "delivery_count",
        "remote_ip",
        "headers",
        "pretty_body",
        "body_sha256",
        "phone_number_id",
        "config",
        "valid",
        "processed",
        "processed_at",
        "exception",
        "pretty_traceback",
    )
    exclude = ("body", "traceback")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="exception")
    def short_exception(self, obj: WebhookEvent) -> str:
        return (obj.exception[:80] + "…") if len(obj.exception) > 80 else obj.exception

    @admin.display(description="body")
    def pretty_body(self, obj: WebhookEvent) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", obj.body)

    @admin.display(description="traceback")
    def pretty_traceback(self, obj: WebhookEvent) -> str:
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", obj.traceback)

    @admin.action(
        description="Replay: process the selected events again (idempotent)",
        permissions=["change"],
    )
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        done = refused = 0
        for event in queryset:
            try:
                intake.replay_webhook_event(event)
                done += 1
            except intake.WebhookRejected as exc:
                refused += 1
                self.message_user(request, f"Event {event.pk}: {exc.reason}", messages.WARNING)
            except Exception as exc:
                refused += 1
                self.message_user(
                    request, f"Event {event.pk} failed: {type(exc).__name__}", messages.ERROR
                )
        if done:
            self.message_user(request, f"{done} event(s) replayed.", messages.SUCCESS)


class _ReadOnlyAdmin(admin.ModelAdmin):
    """What Meta told us: staff read it, nobody edits it here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SkippedWebhookItem)
class SkippedWebhookItemAdmin(_ReadOnlyAdmin):
    list_display = ("created_at", "kind", "reason", "wamid", "event")
    list_filter = ("kind",)
    search_fields = ("reason", "wamid", "path")
    readonly_fields = ("event", "kind", "path", "reason", "wamid", "pretty_raw", "created_at")
    exclude = ("raw",)

    @admin.display(description="as received")
    def pretty_raw(self, obj: SkippedWebhookItem) -> str:
        return format_html(
            "<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(obj.raw, indent=2)
        )


@admin.register(MessageTemplate)
class MessageTemplateAdmin(_ReadOnlyAdmin):
    list_display = (
        "name",
        "language",
        "status",
        "can_be_sent",
        "quality_score",
        "category",
        "status_reason",
        "status_changed_at",
    )
    list_filter = ("status", "quality_score", "category")
    search_fields = ("name", "template_id")
    readonly_fields = (
        "name",
        "language",
        "template_id",
        "waba_id",
        "status",
        "status_reason",
        "quality_score",
        "category",
        "status_changed_at",
        "updated_at",
    )

    @admin.display(description="can be sent", boolean=True)
    def can_be_sent(self, obj: MessageTemplate) -> bool:
        return obj.sendable


@admin.register(AccountUpdate)
class AccountUpdateAdmin(_ReadOnlyAdmin):
    list_display = ("received_at", "field", "update_type", "summary", "template")
    list_filter = ("field", "update_type")
    search_fields = ("summary", "update_type", "waba_id")
    list_select_related = ("template",)
    readonly_fields = (
        "received_at",
        "waba_id",
        "field",
        "update_type",
        "summary",
        "template",
        "pretty_value",
        "event",
    )
    exclude = ("value", "path")

    @admin.display(description="as received")
    def pretty_value(self, obj: AccountUpdate) -> str:
        return format_html(
            "<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(obj.value, indent=2)
        )
