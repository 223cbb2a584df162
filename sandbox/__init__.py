"""Emulators of the outside parties (Paynow, the WhatsApp Cloud API), each its own HTTP server.

Nothing here imports the project's Django apps, and no production code imports this package.
"""
