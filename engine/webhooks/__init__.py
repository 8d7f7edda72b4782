"""Webhooks: signing, sending, the outbox dispatcher, SSRF guard and a verifying receiver. Imports the core and the store."""
