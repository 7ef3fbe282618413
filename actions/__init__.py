"""Rasa custom actions, one module per feature (rasa-sdk registers every Action subclass)."""
