"""Which Paynow integration to talk to, a client for it, and the URLs Paynow calls us back on."""

from __future__ import annotations

from datetime import timedelta

import httpx
from django.conf import settings

from ..models import PaynowAttempt, PaynowConfig
from ..sdk import PaynowSDK

IPN_PATH = "/crm-api/paynow/ipn/"
RETURN_PATH = "/crm-api/paynow/return/"


class PaynowNotConfigured(Exception):
    """No active Paynow configuration: staff must add one in the admin."""


def get_active_config() -> PaynowConfig:
    config = PaynowConfig.objects.filter(is_active=True).first()
    if config is None:
        raise PaynowNotConfigured("No active Paynow configuration (Admin → Paynow Configurations).")
    return config


def config_for(attempt: PaynowAttempt) -> PaynowConfig:
    """The configuration an attempt was started with (its key signs its polls and traces),
    or the active one for attempts that recorded none."""
    return attempt.config if attempt.config_id is not None else get_active_config()


def sdk_for(config: PaynowConfig) -> PaynowSDK:
    timeout = httpx.Timeout(
        float(settings.PAYNOW_READ_TIMEOUT),
        connect=float(settings.PAYNOW_CONNECT_TIMEOUT),
    )
    return PaynowSDK(
        config.integration_id,
        config.integration_key,
        remote_url=config.api_base_url,
        timeout=timeout,
    )


def site_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def pending_timeout() -> timedelta:
    return timedelta(minutes=float(settings.PAYNOW_PENDING_TIMEOUT))
