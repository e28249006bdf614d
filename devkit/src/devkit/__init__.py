"""Development tools for azs-backup-bot, kept out of the product's wheel.

The stamp simulator (:mod:`devkit.simulator`), the local Slack Web API (:mod:`devkit.slack_fake`) and
Socket Mode server (:mod:`devkit.socket_server`), the process harness shared by the demo, the tests and
the benchmark (:mod:`devkit.localrun`), and the demo's narration (:mod:`devkit.demo`).
"""
