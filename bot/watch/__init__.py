"""The proactive watcher: subscriptions, transition detection, durable outbox, Slack notifier.

The Slack app uses `backend.build_watch_backends(...)` (one per project, on Services), then
`backend.subscriptions` (subscribe / unsubscribe / channel_subscriptions) and `backend.state`
(mute / unmute / mutes / acknowledge). `python -m bot watch` runs `bot.runtime.run_watcher`.
Submodules are imported explicitly: importing them here would tie bot.services to the runner.
"""
