"""Emulator of Meta's WhatsApp Cloud API (Graph `messages`, webhooks, WhatsApp Flows client side).

Independent of the project's Django apps; see README.md beside this file.
"""

from sandbox.whatsapp.server import WhatsAppEmulator

__all__ = ["WhatsAppEmulator"]
