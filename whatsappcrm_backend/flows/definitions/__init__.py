"""Flow definitions as Python data: conversation flows and WhatsApp Flow JSON."""
