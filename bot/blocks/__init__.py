"""Block Kit: message and limits, text (the escaping boundary), and a builder per surface.

The builders import the two primitive modules as namespaces, `from bot.blocks import message as
kit` (blocks, Message, Slack's limits) and `from bot.blocks import text as rich` (rich-text
elements, values, phrases), so each call says which of the two it uses.
"""
