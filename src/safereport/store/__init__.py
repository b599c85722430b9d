"""SQLAlchemy tables and queries. Query functions take a connection and never commit."""
