"""Admin: contacts with their conversation, a staff "send message" form and bot handover."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from . import selectors, services
from .forms import SendMessageForm
from .models import Contact, Message, MessageMedia, MessageStatusEvent, Referral

CONVERSATION_LENGTH = 50


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = (
        "whatsapp_id",
        "username",
        "name",
        "last_seen",
        "last_inbound_at",
        "needs_human_intervention",
        "bot_paused_until",
    )
    list_filter = ("needs_human_intervention",)
    search_fields = ("whatsapp_id", "user_id", "username", "name")
    # The ids and the username are WhatsApp's: they change only through its messages.
    readonly_fields = (
        "whatsapp_id",
        "user_id",
        "username",
        "first_seen",
        "last_seen",
        "last_inbound_at",
        "created_at",
        "updated_at",
    )
    change_form_template = "admin/conversations/contact/change_form.html"
    actions = ["pause_bot_action", "release_bot_action"]

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "<path:object_id>/send-message/",
                self.admin_site.admin_view(self.send_message_view),
                name="conversations_contact_send_message",
            ),
            path(
                "<path:object_id>/release-bot/",
                self.admin_site.admin_view(self.release_bot_view),
                name="conversations_contact_release_bot",
            ),
        ]
        return urls + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        contact = self.get_object(request, object_id)
        if contact is not None:
            extra_context.update(self._conversation_context(contact, SendMessageForm()))
        return super().change_view(request, object_id, form_url, extra_context)

    def _conversation_context(self, contact: Contact, form: SendMessageForm) -> dict[str, Any]:
        return {
            "conversation": [
                _with_media(message)
                for message in selectors.recent_messages(contact, limit=CONVERSATION_LENGTH)
            ],
            "conversation_length": CONVERSATION_LENGTH,
            "send_form": form,
            "window_open": selectors.is_within_service_window(contact),
            "window_ends_at": selectors.service_window_ends_at(contact),
            "bot_paused": selectors.is_bot_paused(contact),
        }

    def _contact_or_403(self, request: HttpRequest, object_id: str) -> Contact:
        contact = get_object_or_404(Contact, pk=object_id)
        if not self.has_change_permission(request, contact):
            raise PermissionDenied
        return contact

    def send_message_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        contact = self._contact_or_403(request, object_id)
        change_url = reverse("admin:conversations_contact_change", args=[contact.pk])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        form = SendMessageForm(request.POST)
        if not form.is_valid():
            errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
            self.message_user(request, f"Not sent: {errors}", messages.ERROR)
            return HttpResponseRedirect(change_url)
        services.queue_text(contact, form.cleaned_data["text"], flow_step="staff")
        if form.cleaned_data["pause_bot"]:
            minutes = form.cleaned_data.get("pause_minutes")
            until = timezone.now() + timedelta(minutes=minutes) if minutes else None
            services.pause_bot(contact, until=until, by=request.user)
        if selectors.is_within_service_window(contact):
            self.message_user(request, "Message queued for sending.", messages.SUCCESS)
        else:
            self.message_user(
                request,
                "Message queued, but the 24-hour window is closed: it will not go out as "
                "free text (the re-engagement template goes instead, if one is configured).",
                messages.WARNING,
            )
        return HttpResponseRedirect(change_url)

    def release_bot_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        contact = self._contact_or_403(request, object_id)
        if request.method == "POST":
            services.release_bot(contact)
            self.message_user(request, "The bot answers this contact again.", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:conversations_contact_change", args=[contact.pk])
        )

    @admin.action(description="Pause the bot (staff take over)")
    def pause_bot_action(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        for contact in queryset:
            services.pause_bot(contact, by=request.user)
        self.message_user(request, f"Bot paused for {queryset.count()} contact(s).")

    @admin.action(description="Release the bot")
    def release_bot_action(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        for contact in queryset:
            services.release_bot(contact)
        self.message_user(request, f"Bot released for {queryset.count()} contact(s).")


class StatusEventInline(admin.TabularInline):
    model = MessageStatusEvent
    extra = 0
    can_delete = False
    fields = ("status", "timestamp", "error_code", "error_title", "received_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "contact",
        "direction",
        "message_type",
        "short_text",
        "status",
        "error_code",
        "flow_step",
    )
    list_filter = ("direction", "status", "message_type")
    search_fields = (
        "wamid",
        "contact__whatsapp_id",
        "contact__user_id",
        "contact__username",
        "contact__name",
        "text",
    )
    list_select_related = ("contact",)
    date_hierarchy = "created_at"
    inlines = [StatusEventInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        return [*(f.name for f in Message._meta.fields), "attached_file", "came_from"]

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "<path:object_id>/media/",
                self.admin_site.admin_view(self.media_view),
                name="conversations_message_media",
            )
        ]
        return urls + super().get_urls()

    def media_view(self, request: HttpRequest, object_id: str) -> FileResponse:
        """The file a traveller sent, for staff who may view messages (never a public URL)."""
        message = get_object_or_404(Message, pk=object_id)
        if not self.has_view_permission(request, message):
            raise PermissionDenied
        media = selectors.stored_media_of_message(message.pk)
        if media is None:
            raise Http404("No stored file for this message")
        response = FileResponse(
            media.file.open("rb"),
            content_type=media.mime_type,
            as_attachment=False,
            filename=media.filename or f"message-{message.pk}",
        )
        # Only checked images and PDFs are stored; still, nothing in them may run here.
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'"
        response["Cache-Control"] = "private, no-store"
        return response

    @admin.display(description="file")
    def attached_file(self, obj: Message) -> str:
        return media_link(obj)

    @admin.display(description="came from (ad referral)")
    def came_from(self, obj: Message) -> str:
        referral = Referral.objects.filter(message=obj).first()
        if referral is None:
            return "-"
        return format_html(
            "{} <br><small>{} · click id {}</small>",
            referral.headline or "(no headline)",
            referral.source_url or referral.source_id or "-",
            referral.ctwa_clid or "-",
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="text")
    def short_text(self, obj: Message) -> str:
        return (obj.text[:60] + "…") if len(obj.text) > 60 else obj.text


def _with_media(message: Message) -> Message:
    link = media_link(message)
    message.media_html = "" if link == "-" else link  # type: ignore[attr-defined]
    return message


def media_link(message: Message) -> str:
    """The message's file for staff: the picture itself, or a link that opens the PDF; else
    why there is none."""
    try:
        media = message.media  # joined by selectors.recent_messages
    except MessageMedia.DoesNotExist:
        return "-"
    if media.status != MessageMedia.Status.STORED:
        detail = f": {media.error}" if media.error else ""
        return f"{media.get_status_display()}{detail}"
    url = reverse("admin:conversations_message_media", args=[message.pk])
    if media.is_image:
        return format_html(
            '<a href="{}" target="_blank" rel="noopener"><img src="{}" alt="{}" '
            'style="max-width: 320px; max-height: 320px"></a>',
            url,
            url,
            media.caption or "photo sent by the contact",
        )
    label = media.filename or "the document"
    return format_html('<a href="{}" target="_blank" rel="noopener">Open {}</a>', url, label)


@admin.register(MessageMedia)
class MessageMediaAdmin(admin.ModelAdmin):
    list_display = ("created_at", "message", "kind", "mime_type", "size", "status", "error")
    list_filter = ("status", "kind")
    search_fields = ("channel_media_id", "message__wamid", "message__contact__name", "filename")
    list_select_related = ("message",)
    readonly_fields = (
        "message",
        "channel_media_id",
        "kind",
        "declared_mime_type",
        "declared_sha256",
        "caption",
        "filename",
        "status",
        "mime_type",
        "size",
        "sha256",
        "attempts",
        "error",
        "stored_at",
        "created_at",
        "preview",
    )
    exclude = ("file",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MessageMedia | None = None) -> bool:
        return False

    @admin.display(description="file")
    def preview(self, obj: MessageMedia) -> str:
        return media_link(obj.message)


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = ("received_at", "contact", "headline", "source_type", "source_id", "ctwa_clid")
    search_fields = ("headline", "source_id", "source_url", "ctwa_clid", "contact__name")
    list_select_related = ("contact",)
    readonly_fields = [f.name for f in Referral._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Referral | None = None) -> bool:
        return False
