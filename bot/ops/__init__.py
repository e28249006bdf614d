"""What operators watch: JSON logs, Prometheus metrics, probes, one line per outage."""
