"""Staff forms: replying to a contact from the admin."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator

from . import channel


class SendMessageForm(forms.Form):
    text = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
    )
    pause_bot = forms.BooleanField(
        required=False,
        initial=True,
        label="Pause the bot for this contact",
        help_text="So the bot does not talk over you.",
    )
    pause_minutes = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=7 * 24 * 60,
        label="Pause for (minutes)",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The limit is the channel's; it is known once the channel has registered (the admin
        # imports this module before the apps are ready), hence here and not on the class.
        limit = channel.sender().text_max_length
        text = cast(forms.CharField, self.fields["text"])
        text.max_length = limit
        text.validators.append(MaxLengthValidator(limit))
        text.widget.attrs["maxlength"] = str(limit)
        text.help_text = f"Plain text, up to {limit} characters."
        pause = self.fields["pause_minutes"]
        pause.help_text = f"Blank: {settings.BOT_PAUSE_DEFAULT_MINUTES} minutes."

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError("Write something to send.")
        return text
