"""Job state and everything else the bot keeps in Redis; key names in keys.py."""
