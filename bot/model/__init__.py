"""Plain data every layer shares: ARM resources as the bot reads them, job facts, audit entries."""
