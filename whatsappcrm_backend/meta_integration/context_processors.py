"""Template context from the WhatsApp channel: the link that takes a reader back to our chat.

Pages outside this app (the Paynow return page) show "Back to WhatsApp" without importing the
channel: Django's context processors hand them `whatsapp_chat_url`.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .models import MetaAppConfig


def business_chat_url() -> str:
    """`https://wa.me/<number>` for the first active business number, or "" if none is set.

    WhatsApp's click-to-chat link takes the number in full international form, digits only
    (https://faq.whatsapp.com/5913398998672934).
    """
    config = (
        MetaAppConfig.objects.filter(is_active=True)
        .exclude(display_phone_number="")
        .order_by("pk")
        .first()
    )
    digits = "".join(ch for ch in config.display_phone_number if ch.isdigit()) if config else ""
    return f"https://wa.me/{digits}" if digits else ""


def whatsapp_chat(request: HttpRequest) -> dict[str, Any]:
    # A callable, not its value: templates that never show the link cost no query.
    return {"whatsapp_chat_url": business_chat_url}
