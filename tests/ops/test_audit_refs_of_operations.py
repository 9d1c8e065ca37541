"""The audit rows the real operations write are found by the phones and accounts they touch:
link, move, re-send, forced opt-out, a Mappings move and a bulk upload."""

from __future__ import annotations

from pathlib import Path

from outagedesk.ops.bulk_links import apply_corrections, plan_corrections
from outagedesk.ops.consent import force_opt_out
from outagedesk.ops.links import link_phone
from outagedesk.ops.mappings import move_link
from outagedesk.ops.resend import resend_reports
from outagedesk.store.audit import AuditQuery, page_audit
from outagedesk.store.mappings import mapping_rows

from dbsupport import DbUnderTest
from mappingsupport import DISPATCHER, LINKED, SUPERVISOR, load, sent_report

NEW = "+15055550131"
OPTED = "+15055550132"
UPLOADED = "+15055550133"
UNLINKED_BY_FILE = "+15755550102"
"""Linked to A-200 / SL-200-1 by the directory; the uploaded file removes the link."""
RESEND = "report_resend:r-1, r-2"


def found(db: DbUnderTest, query: AuditQuery) -> list[str]:
    with db.sessions() as s:
        return [f"{r.action}:{r.subject}" for r in page_audit(s, query, None, 100)]


def test_every_operation_is_found_by_its_phones_and_accounts(
    db: DbUnderTest, tmp_path: Path
) -> None:
    linked_id = load(db)  # the directory, and LINKED linked to A-100 / SL-100-2
    with db.sessions() as s:
        first = link_phone(s, DISPATCHER, NEW, "A-200", resend=False)
        link_phone(s, SUPERVISOR, NEW, "B-300", "SL-300-1", replace=[first.link_id], resend=False)
        reports = [sent_report(s, LINKED, n, None) for n in (1, 2)]
        resend_reports(s, DISPATCHER, reports)  # r-1 and r-2 now go to A-100
        force_opt_out(s, SUPERVISOR, OPTED, None, "asked by phone")
        version = mapping_rows(s, [linked_id])[0].version
        # The move re-sends both (no ticket yet), now to B-300.
        move_link(s, SUPERVISOR, linked_id, version, "B-300", "SL-300-1")
    upload = tmp_path / "fix.csv"
    upload.write_text(
        "action,phone,account_number,service_location_id\n"
        f"add,{UPLOADED},A-200,\n"
        f"remove,{UNLINKED_BY_FILE},A-200,SL-200-1\n",
        encoding="utf-8",
    )
    with db.sessions() as s:
        apply_corrections(s, SUPERVISOR, plan_corrections(s, upload))

    assert found(db, AuditQuery(phone=NEW)) == [f"link_move:{NEW}", f"link_add:{NEW}"]
    assert found(db, AuditQuery(phone=LINKED)) == [
        RESEND,
        f"link_move:{LINKED}",
        RESEND,
        f"link_add:{LINKED}",
    ]
    # A re-send of two reports: each report ID is only a key inside before/after.
    assert found(db, AuditQuery(account="r-2")) == [RESEND, RESEND]
    assert found(db, AuditQuery(phone=OPTED)) == [f"consent_force_opt_out:{OPTED}"]
    # The upload's row lists counts, not links: its refs name what it changed.
    assert found(db, AuditQuery(phone=UPLOADED)) == ["links_upload:fix.csv"]
    assert found(db, AuditQuery(phone=UNLINKED_BY_FILE)) == ["links_upload:fix.csv"]
    assert found(db, AuditQuery(account="SL-200-1")) == ["links_upload:fix.csv"]

    assert found(db, AuditQuery(account="A-200")) == [
        "links_upload:fix.csv",
        f"link_move:{NEW}",
        f"link_add:{NEW}",
    ]
    assert found(db, AuditQuery(account="A-100")) == [
        RESEND,  # its "before": the account the first re-send sent
        f"link_move:{LINKED}",
        RESEND,
        f"link_add:{LINKED}",
    ]
    assert found(db, AuditQuery(account="B-300")) == [
        RESEND,
        f"link_move:{LINKED}",
        f"link_move:{NEW}",
    ]
    assert found(db, AuditQuery(account="A-2")) == []
    assert found(db, AuditQuery(account="B-300", phone=NEW, person=SUPERVISOR.name)) == [
        f"link_move:{NEW}"
    ]
