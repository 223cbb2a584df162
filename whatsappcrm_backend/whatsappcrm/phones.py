"""Zimbabwean mobile numbers, in whatever form a traveller types them or WhatsApp gives them.

Neutral (no app imports): the payment form prefills the payer's number with it, and the
mobile-money gateway validates with it.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-().]")
# After the leading 0: 7, then the network digit (1 NetOne, 3 Telecel, 7/8 Econet), 7 more.
_LOCAL_MOBILE = re.compile(r"7[1378]\d{7}", re.ASCII)


def zimbabwe_mobile(raw: object) -> str | None:
    """``+263 77 123 4567``, ``263771234567``, ``0771234567``, ``771234567`` -> ``0771234567``;
    None for anything that is not a Zimbabwean mobile number."""
    digits = _SEPARATORS.sub("", str(raw or ""))
    if digits.startswith("+"):
        digits = digits[1:]
    if not digits.isascii() or not digits.isdigit():
        return None
    if digits.startswith("00263"):
        digits = digits[5:]
    elif digits.startswith("263"):
        digits = digits[3:]
    elif digits.startswith("0"):
        digits = digits[1:]
    return "0" + digits if _LOCAL_MOBILE.fullmatch(digits) else None
