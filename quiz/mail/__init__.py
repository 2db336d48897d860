"""Email: the outbox (the one writer of outbox rows), composing messages, SMTP transport."""
