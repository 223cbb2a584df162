"""Admin for WhatsApp Flows (Flows → WhatsApp Flows) and their form sessions."""
