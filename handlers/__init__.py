"""Thin Slack listeners; `register_handlers` wires them onto a Bolt app."""
