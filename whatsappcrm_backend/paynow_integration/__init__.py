"""Paynow: configuration, the protocol client (sdk), the Paynow gateways (mobile money and
cards), status updates (IPN) and reconciliation, the IPN and return views."""
