"""Every sentence the bot says: renderers take plain data and return a Message."""
