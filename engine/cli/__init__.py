"""The `pique-engine` command: parses arguments and calls the layers below, nothing more."""
