"""The taker's side: the writers of responses and answers (responses) and of consents (consents),
the result chart, data rights and retention (orchestrating those writers), signed links."""
