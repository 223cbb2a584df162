"""The conversational flow engine, its definitions, and WhatsApp Flows (native forms)."""
