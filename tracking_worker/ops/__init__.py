"""Operating a deployment: the Prometheus exporter, the JSONL importer and the tables the CLI
and ``tracking-worker dev`` show. Used by ``cli`` and ``devtools``; the library never imports
it, so a web process loads none of it (nor rich, nor prometheus_client)."""
