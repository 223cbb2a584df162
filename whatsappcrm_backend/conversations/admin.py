from django.contrib import admin

from .models import Contact


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("whatsapp_id", "name", "last_seen", "needs_human_intervention")
    list_filter = ("needs_human_intervention",)
    search_fields = ("whatsapp_id", "name")
    readonly_fields = ("first_seen", "created_at", "updated_at")
