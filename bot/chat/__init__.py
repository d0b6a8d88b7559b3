"""What the bot says: one module per feature, each turning a request into a reply Message."""
