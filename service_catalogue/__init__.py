"""The service catalogue: HSDS-shaped models, queries, seeding from content/, HSDS import/export."""
