"""Lambda plumbing: clients, settings, logging and metrics, the catalog source, business time, fan-out, batches."""
