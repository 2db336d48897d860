"""Email: the outbox (the one writer of outbox rows), composing messages, the sender, transports."""
