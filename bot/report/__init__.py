"""Reports built from what the bot keeps: the digest (:mod:`bot.report.digest`) and the monthly report."""
