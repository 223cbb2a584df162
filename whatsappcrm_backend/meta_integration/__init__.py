"""WhatsApp Cloud API: configuration, Graph API client, webhook view, send/receive tasks."""
