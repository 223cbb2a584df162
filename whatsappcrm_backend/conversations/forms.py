"""Staff forms: replying to a contact from the admin."""

from django import forms

from meta_integration.constants import TEXT_BODY_MAX


class SendMessageForm(forms.Form):
    text = forms.CharField(
        label="Message",
        max_length=TEXT_BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text=f"Plain text, up to {TEXT_BODY_MAX} characters.",
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
        help_text="Blank: the default (BOT_PAUSE_DEFAULT_MINUTES).",
    )

    def clean_text(self) -> str:
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError("Write something to send.")
        return text
