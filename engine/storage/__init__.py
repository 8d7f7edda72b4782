"""The object store uploads land in: reading objects and signing upload URLs. Imports only the core."""
