"""Following backups: the poll cycle, one job's poll, reconciling starts, the timing rules, watches."""
