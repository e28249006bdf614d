"""What each /azs verb does, Slack-free: the command table, the parser, the pipeline (which stamp, who may, the
runner, the audit), the runners, App Home."""
