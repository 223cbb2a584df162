"""Contacts and the record of every WhatsApp message in and out."""
