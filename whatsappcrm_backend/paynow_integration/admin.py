"""Admin: Paynow Integration → Paynow Configurations, the Paynow attempts, and the
status-update log."""

from django import forms
from django.contrib import admin, messages

from .models import PaynowAttempt, PaynowConfig, PaynowStatusUpdate
from .tasks import process_paynow_status_update

MASK = "••••••••"


class PaynowConfigForm(forms.ModelForm):
    integration_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted. Leave blank to keep the current key.",
    )
    api_base_url = forms.URLField(
        label="API Base URL",
        max_length=300,
        assume_scheme="https",
        initial=PaynowConfig._meta.get_field("api_base_url").default,
        help_text=PaynowConfig._meta.get_field("api_base_url").help_text,
    )

    class Meta:
        model = PaynowConfig
        fields = [
            "integration_id",
            "integration_key",
            "api_base_url",
            "auth_email",
            "mode",
            "is_active",
        ]

    def clean_integration_key(self):
        key = self.cleaned_data.get("integration_key", "").strip()
        if not key:
            if self.instance.pk and self.instance.integration_key:
                return self.instance.integration_key
            raise forms.ValidationError("The integration key is required.")
        return key

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("is_active"):
            others = PaynowConfig.objects.filter(is_active=True).exclude(pk=self.instance.pk)
            if others.exists():
                raise forms.ValidationError(
                    "Another Paynow configuration is active. Deactivate it first: only one "
                    "can be active at a time."
                )
        return cleaned


@admin.register(PaynowConfig)
class PaynowConfigAdmin(admin.ModelAdmin):
    form = PaynowConfigForm
    list_display = (
        "integration_id",
        "masked_key",
        "api_base_url",
        "auth_email",
        "mode",
        "is_active",
    )
    list_filter = ("is_active", "mode")

    @admin.display(description="Integration key")
    def masked_key(self, obj):
        return MASK if obj.integration_key else "—"


@admin.register(PaynowAttempt)
class PaynowAttemptAdmin(admin.ModelAdmin):
    """What Paynow knows of each payment; read-only (Paynow and reconciliation write it)."""

    list_display = (
        "created_at",
        "payment",
        "kind",
        "paynow_reference",
        "gateway_status",
        "check_attempts",
        "next_check_at",
    )
    list_filter = ("kind", "gateway_status", "payment__status")
    search_fields = (
        "paynow_reference",
        "merchant_trace",
        "payment__reference",
        "payment__booking__booking_reference",
    )
    list_select_related = ("payment",)
    readonly_fields = [f.name for f in PaynowAttempt._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PaynowStatusUpdate)
class PaynowStatusUpdateAdmin(admin.ModelAdmin):
    list_display = (
        "received_at",
        "source",
        "reference",
        "paynow_reference",
        "status",
        "amount",
        "valid",
        "processed",
        "processing_ms",
        "flag",
        "flag_resolved",
    )
    list_filter = ("source", "valid", "processed", "flag", "flag_resolved")
    search_fields = ("reference", "paynow_reference", "payment__booking__booking_reference")
    readonly_fields = [
        f.name for f in PaynowStatusUpdate._meta.fields if f.name not in {"flag_resolved"}
    ]
    actions = ["replay", "mark_flag_resolved"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Replay (process again; safe to repeat)")
    def replay(self, request, queryset):
        count = 0
        for entry in queryset.filter(valid=True):
            PaynowStatusUpdate.objects.filter(pk=entry.pk).update(processed=False)
            process_paynow_status_update.delay(entry.pk)
            count += 1
        skipped = queryset.count() - count
        self.message_user(request, f"{count} update(s) queued for processing.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} update(s) without a valid hash skipped.", messages.WARNING
            )

    @admin.action(description="Mark flag as resolved")
    def mark_flag_resolved(self, request, queryset):
        updated = queryset.exclude(flag="").update(flag_resolved=True)
        self.message_user(request, f"{updated} flag(s) resolved.", messages.SUCCESS)
