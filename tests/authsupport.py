"""Credentials for tests: a service token of a given role, issued straight in the database."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from outagedesk.ops.base import Actor, Role
from outagedesk.ops.people import issue_token

ISSUER = Actor("root", "test-desk", Role.ADMIN)


def service_token(sessions: sessionmaker[Session], role: Role, name: str = "") -> str:
    with sessions() as session:
        return issue_token(session, ISSUER, name or f"test-{role.value}", role)
