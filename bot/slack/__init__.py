"""The Bolt adapter: the app, its middleware, the ack-then-work kit, the Web API client, dedupe."""
