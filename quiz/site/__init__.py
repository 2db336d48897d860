"""The site's own settings: brand, contact and Impressum, privacy notes, call to action, email
sender, notifications, embedding. Kept in the database, edited on /coach/einstellungen or with
`flask --app quiz settings`, effective at once on every worker (quiz.site.settings)."""
