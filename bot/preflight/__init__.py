"""``azs-bot check`` (:mod:`bot.preflight.run`): the preflight an operator runs after configuring, before trusting
the bot with a backup.

It asks, in the order things depend on each other, everything the bot will need: the settings, Redis (and, with
Sentinel, a healthy replica), the Slack token and the scopes the app manifest asks for (the app-level token too
in Socket Mode), then for each stamp: its admin endpoint (TLS, proxy), a token from its identity provider, the
subscription and region, read access to the backup location, its backups and the update location, and whether
the principal may start a backup. One line per check; each failure says what to fix. Nothing is written anywhere
and no backup is started. Exit code: 0 all good (warnings allowed), 1 something failed, 2 the settings are
invalid (as every ``azs-bot`` command exits on them).
"""
