"""The taker's side: saving responses (the one writer of responses and answers), data rights,
signed links, retention."""
