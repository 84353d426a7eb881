"""Change notifications (異動通知) through the hub: publish into a durable outbox, webhook delivery in order
per person, dead letters and replay, and feeds (差分 / 全件) for pollers. See ``docs/notifications.md``."""
