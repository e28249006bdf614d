"""Reports built from what the bot keeps: the digest (:mod:`bot.report.digest`) and the monthly backup report,
the evidence an auditor asks for (RPO compliance, failures and how they were fixed, configuration and version
changes), as a CSV, a chart and a summary message (:func:`bot.report.monthly.build_monthly_report`).

Reads the durable history and the snapshots (:mod:`bot.state`) and model data only; words come from
:mod:`bot.words`.
"""
