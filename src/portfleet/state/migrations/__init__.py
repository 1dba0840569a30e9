"""Alembic migrations of the state schema, run by portfleet itself when it opens a store (migrate.py).

No alembic.ini: migrate.py builds the Alembic configuration in code and hands env.py the open
connection. Each file in versions/ is one revision; a revision is never edited once released.
"""
