"""Every sentence the bot says: renderers take plain data and return a Message.

By what the words are for: ``mrkdwn`` (``Message``, ``escape``, Block Kit helpers and limits, times),
``backups`` (how a backup reads), ``replies`` (answers to commands and clicks), ``posts`` (channel posts and their
markers), ``home`` (App Home). Import the module that holds a renderer; this package re-exports nothing.
"""
