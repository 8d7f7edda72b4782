"""The object store uploads land in: the `Storage` interface (a GCS bucket, a local folder) and upload-URL signing. Imports only the core."""
