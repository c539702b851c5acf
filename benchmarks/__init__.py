"""Speed benchmarks: ours vs a plain Celery task per event (A) vs celery-batches (B)."""
