"""Alembic migrations of the main database and of the keystore.

This package sits above the domains (not inside ``store``) because Alembic's environment must
import every domain's models to compare them with the database, and the layering forbids
``store`` from importing the domains above it.
"""
