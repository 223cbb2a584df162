"""Signals the money core sends; the conversation layer subscribes (e.g. to send receipts).

`payment_status_changed` is sent after the transaction that applied the change commits,
with `payment` (fresh from the database), `old_status` and `new_status`.
"""

from django.dispatch import Signal

payment_status_changed = Signal()
