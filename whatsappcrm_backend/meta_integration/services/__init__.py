"""The WhatsApp channel's business logic, one module per job.

- ``webhook``: intake of Meta's webhook POSTs (route by number, verify the signature on the
  raw bytes, store the event, process and replay it); ``verify_subscription`` for the GET.
- ``recording``: an authenticated envelope's items, each once and each on its own: messages
  and statuses into ``conversations``, unreadable items kept as ``SkippedWebhookItem``.
- ``account_updates``: changes other than messages (account, template status/quality/category)
  stored as ``AccountUpdate``; template news folded into ``MessageTemplate``.
- ``media``: inbound photos and PDFs fetched through the Graph API, checked, stored.
- ``dispatch``: every new inbound message to ``INBOUND_MESSAGE_HANDLER``, exactly once.
- ``read_receipts``: the blue ticks for an inbound message.
- ``outbound``: the ordered send queue (one contact's pending messages, oldest first, under
  its ``OutboundLane`` lock) and the re-engagement template outside the 24-hour window.
- ``housekeeping``: the sweeps' reads and repairs (forgotten queues, early statuses, lost
  dispatches, files still to fetch).

The channel's ``Sender`` for ``conversations`` is ``meta_integration.channel``.
"""

# Transition: flows/engine/runner.py still imports this reply from here; it lives in dispatch.
from .dispatch import UNSUPPORTED_REPLY as UNSUPPORTED_REPLY
