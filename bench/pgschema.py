"""A throw-away PostgreSQL schema for a benchmark run, so runs never meet each other's data."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text


def postgres_schema(url: str) -> tuple[str, str]:
    """Create a fresh schema; returns its name and a URL whose connections use it."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        admin.dispose()
    sep = "&" if "?" in url else "?"
    return schema, f"{url}{sep}options=-csearch_path%3D{schema}"


def drop_schema(url: str, schema: str) -> None:
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
