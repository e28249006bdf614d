"""The Slack Web API from the bot's side: posting, editing, reading history, exactly once."""
