"""Paynow: configuration, the protocol client (sdk), PaynowService, IPN/return views, polling."""
