"""Reading media: recognising, probing and decoding files. Imports only the core's errors, never the pipeline or adapters."""
