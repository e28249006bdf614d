"""Settings and their limits: read and checked once at start, by every process; every fixed limit in limits.py."""
