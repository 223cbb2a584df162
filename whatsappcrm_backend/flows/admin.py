"""Admin for conversation flows (read-mostly: flows are code) and each contact's place in them."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from .engine.loader import FlowDefinitionError, load_flow_definitions
from .models import ContactFlowState, Flow


@admin.register(Flow)
class FlowAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "step_count", "version", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "description"]
    readonly_fields = [
        "name",
        "description",
        "pretty_definition",
        "trigger_keywords",
        "version",
        "created_at",
        "updated_at",
    ]
    fields = [
        "name",
        "is_active",
        "description",
        "trigger_keywords",
        "version",
        "pretty_definition",
        "created_at",
        "updated_at",
    ]
    actions = ["reload_definitions"]

    @admin.display(description="steps")
    def step_count(self, obj: Flow) -> int:
        return len((obj.definition or {}).get("steps", {}))

    @admin.display(description="definition")
    def pretty_definition(self, obj: Flow):
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.definition, indent=2, ensure_ascii=False)
        )

    def has_add_permission(self, request) -> bool:
        return False  # flows are defined in code: flows/definitions/*.py

    @admin.action(description="Reload all flow definitions from code")
    def reload_definitions(self, request, queryset):
        try:
            report = load_flow_definitions()
        except FlowDefinitionError as exc:
            self.message_user(request, str(exc), level=messages.ERROR)
            return
        self.message_user(
            request,
            f"Created {len(report.created)}, updated {len(report.updated)}, "
            f"unchanged {len(report.unchanged)}.",
        )


@admin.register(ContactFlowState)
class ContactFlowStateAdmin(admin.ModelAdmin):
    list_display = ["contact", "flow", "current_step", "retries", "last_activity_at"]
    list_filter = ["flow"]
    search_fields = ["contact__whatsapp_id", "contact__name"]
    list_select_related = ["contact", "flow"]
    readonly_fields = ["contact", "started_at", "last_activity_at", "updated_at"]
    actions = ["reset_conversation"]

    @admin.action(description="Reset: end the flow (the next message starts fresh)")
    def reset_conversation(self, request, queryset):
        count = queryset.update(flow=None, current_step="", context={}, retries=0)
        self.message_user(request, f"Reset {count} conversation(s).")


from . import admin_whatsapp_flows  # noqa: E402, F401
