"""The HTTP API of the contract. Imports the core, storage, store and webhooks' URL guard."""
