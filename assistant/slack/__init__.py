"""The Slack face: Bolt listeners, Block Kit messages, threads as conversations, the runner."""
