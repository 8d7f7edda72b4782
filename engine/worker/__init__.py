"""The worker: notifications in, isolated evaluations, results and webhooks out. Imports the pipeline, storage, store and webhooks."""
