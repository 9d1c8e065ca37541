"""Linking a phone number to an account or one of its service locations, and undoing it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from outagedesk.domain.phones import InvalidPhoneError, normalize_phone
from outagedesk.ops.base import Actor, OperationError, Permission, audit, require
from outagedesk.ops.resend import Resent, reports_to_resend, resend_reports
from outagedesk.store.models import PhoneLink, ServiceLocation, utcnow

DISPATCHER = "dispatcher"


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    link_id: int
    created: bool
    """False when the very same link already existed (nothing changed)."""
    removed: list[int] = field(default_factory=list)
    resent: list[Resent] = field(default_factory=list)


def _describe(link: PhoneLink) -> dict[str, object]:
    return {
        "id": link.id,
        "phone": link.phone,
        "account_number": link.account_number,
        "service_location_id": link.service_location_id,
        "source": link.source,
    }


def phone_for(raw: str, region: str = "US") -> str:
    try:
        return normalize_phone(raw, region)
    except InvalidPhoneError as exc:
        raise OperationError(str(exc)) from exc


def link_phone(
    session: Session,
    actor: Actor,
    phone: str,
    account_number: str,
    service_location_id: str | None = None,
    *,
    replace: Sequence[int] = (),
    resend: bool = True,
    source: str = DISPATCHER,
) -> LinkOutcome:
    """Link ``phone`` (E.164) to an account, or to one of its locations; one transaction.

    ``replace`` names links of this phone to remove at the same time (a move). With
    ``resend``, every report from the number that has no ticket yet goes to the OMS again as
    a new revision carrying the link.
    """
    require(actor, Permission.LINK)
    locations = session.scalars(
        select(ServiceLocation).where(ServiceLocation.account_number == account_number)
    ).all()
    if not locations:
        raise OperationError(f"account {account_number} is not in the account directory")
    if service_location_id is not None and service_location_id not in {
        loc.service_location_id for loc in locations
    }:
        raise OperationError(
            f"service location {service_location_id} does not belong to account {account_number}"
        )
    current = session.scalars(select(PhoneLink).where(PhoneLink.phone == phone)).all()
    by_id = {link.id: link for link in current}
    stray = [link_id for link_id in replace if link_id not in by_id]
    if stray:
        raise OperationError(f"link {stray[0]} is not a link of {phone}; it may have changed")
    before = {"links": [_describe(link) for link in current]}
    for link_id in replace:
        session.delete(by_id.pop(link_id))
    existing = next(
        (
            link
            for link in by_id.values()
            if link.account_number == account_number
            and link.service_location_id == service_location_id
        ),
        None,
    )
    if existing is None:
        existing = PhoneLink(
            phone=phone,
            account_number=account_number,
            service_location_id=service_location_id,
            source=source,
            created_by=actor.name,
            desk=actor.desk,
            created_at=utcnow(),
            reviewed=False,
        )
        session.add(existing)
    created = existing.id is None
    session.flush()
    if created or replace:
        after = {"links": [_describe(link) for link in [*by_id.values(), existing]]}
        action = "link_move" if replace else "link_add"
        audit(session, actor, action, phone, before, after)
    resent: list[Resent] = []
    if resend:
        pending = reports_to_resend(session, phone=phone)
        resent = resend_reports(session, actor, pending, commit=False)
    session.commit()
    return LinkOutcome(existing.id, created, list(replace), resent)


def unlink(session: Session, actor: Actor, link_id: int) -> None:
    """Remove a link (an undo); audited, and no report is re-sent.

    Undoing one's own link that nobody has reviewed yet is part of linking; removing any
    other link is an edit.
    """
    link = session.get(PhoneLink, link_id)
    if link is None:
        raise OperationError(f"link {link_id} no longer exists")
    own_draft = link.created_by == actor.name and not link.reviewed
    require(actor, Permission.LINK if own_draft else Permission.EDIT_LINKS)
    audit(session, actor, "link_remove", link.phone, {"links": [_describe(link)]}, None)
    session.delete(link)
    session.commit()
