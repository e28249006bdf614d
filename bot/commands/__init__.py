"""What each /azs verb does: the command table, the parser, who may, which stamp, the runners."""
