"""Benchmarks for azs-backup-bot: ack latency, notification lag, poller scale, ARM calls per backup.

Run ``.venv/bin/python -m bench.run``; see ``bench/README.md``.
"""
