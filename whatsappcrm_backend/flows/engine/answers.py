"""Reading a traveller's answer to a question: parse, validate, or explain what was wrong.

Each ``expect`` type has a parser returning ``Answer(ok=True, value=...)`` or
``Answer(ok=False, error=...)``; the error is written for the traveller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

SKIP_WORDS = frozenset({"skip", "none", "no", "n/a", "na", "-", "nil", "nothing", "no id"})
YES_WORDS = frozenset({"yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "correct"})
NO_WORDS = frozenset({"no", "n", "nope", "nah", "not now"})
NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
NUMBER_WORDS.update({"none": 0, "no": 0, "nil": 0})
DATE_FORMATS = (
    "%d/%m/%Y",
    "%d-%m-%Y",
    "%d.%m.%Y",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d %Y",
    "%B %d %Y",
    "%d/%m/%y",
)
DATE_FORMATS_NO_YEAR = ("%d %b", "%d %B", "%b %d", "%B %d", "%d/%m")
MEDIA_TYPES = frozenset({"image", "document"})


@dataclass(frozen=True)
class Incoming:
    """The part of an inbound message a question can read."""

    kind: str  # text, button_reply, list_reply, flow_reply, unsupported
    type: str = "text"  # Meta's type: text, interactive, image, document, location, ...
    text: str = ""
    reply_id: str = ""
    reply_title: str = ""
    media: dict[str, Any] = field(default_factory=dict)

    @property
    def words(self) -> str:
        """The text, or a tapped option's title, as typed (stripped)."""
        return (self.text or self.reply_title or "").strip()


@dataclass(frozen=True)
class Answer:
    ok: bool
    value: Any = None
    title: str = ""
    error: str = ""


def normalise(text: str) -> str:
    """Lower case, single spaces, no surrounding punctuation: for matching words."""
    text = re.sub(r"\s+", " ", (text or "").strip().lower())
    return text.strip(" .,!?;:*_~\"'")


def parse(step: dict[str, Any], incoming: Incoming, options: list[dict], today: date) -> Answer:
    expect = step["expect"]
    if expect == "image":
        return _parse_media(step, incoming)
    if incoming.kind == "unsupported":
        return Answer(False, error="Sorry, I can only read text here.")
    if expect in ("choice", "yes_no"):
        return _parse_choice(step, incoming, options)
    raw = incoming.words
    if step.get("optional") and normalise(raw) in SKIP_WORDS:
        return Answer(True, value="")
    parser = _PARSERS[expect]
    return parser(step, raw, today)


def _error(step: dict[str, Any], default: str) -> str:
    return step.get("error") or default


def _parse_text(step, raw: str, today: date) -> Answer:
    minimum = int(step.get("min_length", 1))
    maximum = int(step.get("max_length", 200))
    if len(raw) < minimum or not re.search(r"\w", raw):
        return Answer(False, error=_error(step, f"Please type at least {minimum} characters."))
    if len(raw) > maximum:
        return Answer(False, error=_error(step, f"Please keep it under {maximum} characters."))
    return Answer(True, value=raw)


def _parse_integer(step, raw: str, today: date) -> Answer:
    minimum, maximum = step.get("min"), step.get("max")
    text = normalise(raw)
    value: int | None = NUMBER_WORDS.get(text)
    if value is None and re.fullmatch(r"[+-]?\d{1,6}", text):
        value = int(text)
    in_range = value is not None and (minimum is None or value >= minimum)
    in_range = in_range and (maximum is None or value <= maximum)
    if not in_range:
        if minimum is not None and maximum is not None:
            hint = f"Please reply with a whole number from {minimum} to {maximum}."
        else:
            hint = "Please reply with a whole number, e.g. 2."
        return Answer(False, error=_error(step, hint))
    return Answer(True, value=value)


def _parse_number(step, raw: str, today: date) -> Answer:
    text = normalise(raw).replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        return Answer(False, error=_error(step, "Please reply with a number, e.g. 120.50."))
    minimum, maximum = step.get("min"), step.get("max")
    if (minimum is not None and value < Decimal(str(minimum))) or (
        maximum is not None and value > Decimal(str(maximum))
    ):
        return Answer(
            False, error=_error(step, f"Please reply with a number from {minimum} to {maximum}.")
        )
    return Answer(True, value=str(value))


def parse_date(raw: str, today: date) -> date | None:
    """15/12/2026, 15-12-2026, 2026-12-15, 15 Dec 2026, December 15, 2026, 15th Dec; today,
    tomorrow. Without a year: the next such date from today."""
    text = normalise(raw)
    if text in ("today",):
        return today
    if text in ("tomorrow", "tmrw"):
        return today + timedelta(days=1)
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text).replace(",", " ")
    text = re.sub(r"\s+", " ", text).strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    for fmt in DATE_FORMATS_NO_YEAR:
        try:
            parsed = datetime.strptime(f"{text} {today.year}", f"{fmt} %Y").date()
        except ValueError:
            continue
        return parsed if parsed >= today else parsed.replace(year=today.year + 1)
    return None


def _parse_date(step, raw: str, today: date) -> Answer:
    value = parse_date(raw, today)
    if value is None:
        return Answer(
            False,
            error=_error(
                step,
                "Sorry, I couldn't read that date. Please write it like 15/12/2026, "
                "15 Dec 2026 or 2026-12-15.",
            ),
        )
    earliest = today + timedelta(days=int(step.get("min_days_ahead", 0)))
    latest = today + timedelta(days=int(step.get("max_days_ahead", 730)))
    if value < today:
        return Answer(
            False,
            error=f"{value.strftime('%d %b %Y')} is in the past. Please choose a date from "
            f"{earliest.strftime('%d %b %Y')} on.",
        )
    if value < earliest:
        return Answer(
            False,
            error=f"We need a little notice: please choose a date from "
            f"{earliest.strftime('%d %b %Y')} on.",
        )
    if value > latest:
        return Answer(
            False,
            error=f"We take bookings up to {latest.strftime('%d %b %Y')}. "
            "Please choose an earlier date.",
        )
    return Answer(True, value=value.isoformat(), title=value.strftime("%d %b %Y"))


def _parse_email(step, raw: str, today: date) -> Answer:
    value = raw.strip().strip("<>").lower()
    try:
        validate_email(value)
    except ValidationError:
        return Answer(
            False,
            error=_error(
                step,
                "That doesn't look like an e-mail address. Please type it like name@example.com.",
            ),
        )
    return Answer(True, value=value)


def _parse_phone(step, raw: str, today: date) -> Answer:
    digits = re.sub(r"[\s\-().]", "", raw)
    if not re.fullmatch(r"\+?\d{9,15}", digits):
        return Answer(False, error=_error(step, "Please send a mobile number like 0771234567."))
    return Answer(True, value=digits)


def _match_option(incoming: Incoming, options: list[dict]) -> dict | None:
    if incoming.reply_id:
        for option in options:
            if option["id"] == incoming.reply_id:
                return option
        return None
    text = normalise(incoming.words)
    if not text:
        return None
    # ASCII digits only: "²".isdigit() is True but int("²") fails.
    if re.fullmatch(r"[0-9]{1,3}", text) and 1 <= int(text) <= len(options):
        return options[int(text) - 1]
    for option in options:
        names = [option.get("title", ""), option["id"], *option.get("synonyms", [])]
        if text in {normalise(name) for name in names}:
            return option
    return None


def _parse_choice(step, incoming: Incoming, options: list[dict]) -> Answer:
    option = _match_option(incoming, options)
    if option is None and step["expect"] == "yes_no":
        text = normalise(incoming.words)
        wanted = "yes" if text in YES_WORDS else "no" if text in NO_WORDS else None
        option = next((o for o in options if o["id"] == wanted), None)
    if option is None:
        return Answer(
            False,
            error=_error(step, "Please choose one of the options (tap a button or type its name)."),
        )
    # The full label (a list row's title may have been cut to Meta's 24 characters).
    return Answer(True, value=option["id"], title=option.get("label") or option.get("title", ""))


def _parse_media(step, incoming: Incoming) -> Answer:
    if incoming.type in MEDIA_TYPES and incoming.media.get("id"):
        return Answer(True, value=dict(incoming.media, type=incoming.type))
    if step.get("optional") and normalise(incoming.words) in SKIP_WORDS | {"later", "done"}:
        return Answer(True, value=None)
    return Answer(False, error=_error(step, "Please send a photo or PDF of your proof of payment."))


_PARSERS = {
    "text": _parse_text,
    "integer": _parse_integer,
    "number": _parse_number,
    "date": _parse_date,
    "email": _parse_email,
    "phone": _parse_phone,
}
