"""Block Kit: message and limits, text (the escaping boundary), card, lists, replies, home."""
