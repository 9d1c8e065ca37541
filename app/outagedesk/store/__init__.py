"""Persistence: typed models, engine set-up, migrations and the queries the app needs."""
