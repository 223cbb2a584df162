"""The seam between the record of conversations and the channel that carries them.

``conversations`` records messages; it does not know how they travel. A channel app (today
the WhatsApp Cloud API's) implements ``Sender`` and registers it once, from its
``AppConfig.ready()``; ``conversations.services`` then asks it to check and describe every
outbound payload, to pick the business account, and to wake its send queue after commit.
With no channel registered, nothing can be queued (``NoChannelRegistered``): a message that
could never leave is refused at once rather than recorded as pending forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # only for annotations: the models module does not import this one
    from .models import Contact


@dataclass(frozen=True, slots=True)
class OutboundDescription:
    """What conversations records about an outbound payload, in the channel's words."""

    recipient: str  # the id it is addressed to: one of ``Contact.identities``
    message_type: str  # what the contact will see: text, button, list, flow, template, ...
    summary: str  # the body, or a readable summary for staff


class Sender(Protocol):
    """What a channel provides so that conversations can send through it."""

    text_max_length: int  # the longest plain text the channel carries in one message

    def describe(self, payload: Mapping[str, Any]) -> OutboundDescription:
        """Validate ``payload`` against the channel's rules and describe it.

        Raises a ``ValueError`` (the channel's own subclass, e.g. ``MessageLimitError``)
        when the channel would refuse it.
        """
        ...

    def account_for(self, contact: Contact) -> str:
        """The business account the contact should hear from ("" when there is none)."""
        ...

    def wake(self, contact_id: int) -> None:
        """Start sending the contact's pending messages (called after commit)."""
        ...

    def text_payload(self, recipient: str, body: str) -> dict[str, Any]:
        """A plain text message to ``recipient`` (what staff type in the admin)."""
        ...


class NoChannelRegistered(RuntimeError):
    """No channel has registered a sender: nothing can be sent."""


class ChannelAlreadyRegistered(RuntimeError):
    """A second, different sender was registered: one channel sends."""


_sender: Sender | None = None


def register_sender(sender: Sender) -> None:
    """Install the channel's sender. Registering the same object again changes nothing."""
    global _sender
    if _sender is not None and _sender is not sender:
        raise ChannelAlreadyRegistered(
            f"{type(_sender).__name__} is registered already; unregister it first"
        )
    _sender = sender


def unregister_sender() -> Sender | None:
    """Remove the registered sender and return it (for tests and for swapping channels)."""
    global _sender
    previous, _sender = _sender, None
    return previous


def sender() -> Sender:
    """The registered sender; raises ``NoChannelRegistered`` when there is none."""
    if _sender is None:
        raise NoChannelRegistered(
            "No channel has registered a sender (is the channel's app in INSTALLED_APPS?)"
        )
    return _sender
