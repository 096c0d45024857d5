"""Two people acting on one document at the same moment: exactly one of them wins."""

import threading

import pytest

from blueprints.receive import services
from errors import RuleError
from extensions import db
from models import Document, User

ACTIONS = {
    "store": lambda user, doc: services.store_document(user, doc),
    "return": lambda user, doc: services.return_document(user, doc, "ขาดเอกสารประกอบ"),
}


@pytest.mark.parametrize(("first", "second"), [("store", "return"), ("store", "store")])
def test_receiver_and_admin_at_once_produce_one_outcome(app, world, make_document, first, second):
    document_id = make_document(world.indicator, world.reporter).id
    actors = [world.receiver.id, world.officer.id]
    db.session.commit()
    # Both threads have read the document (status ส่งแล้ว) before either writes. A
    # read-then-write service would let both succeed; the conditional update lets one.
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def act(user_id: int, action: str):
        with app.app_context():
            db.session().expire_on_commit = False
            user = db.session.get(User, user_id)
            doc = db.session.get(Document, document_id)
            assert doc.status == "sent" and doc.indicator is not None
            db.session.commit()  # end the read; the loaded objects keep what they saw
            barrier.wait()
            try:
                ACTIONS[action](user, doc)
                outcomes.append(action)
            except RuleError as error:
                outcomes.append(f"refused {error.status}")
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=act, args=(actors[0], first)),
        threading.Thread(target=act, args=(actors[1], second)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sorted(o.startswith("refused") for o in outcomes) == [False, True], outcomes
    assert "refused 409" in outcomes
    winner = next(o for o in outcomes if not o.startswith("refused"))
    db.session.expire_all()
    final = db.session.get(Document, document_id)
    assert final.status == {"store": "received", "return": "returned"}[winner]
    # One outcome means one audit entry for the document, not two.
    from models import AuditEntry

    entries = db.session.scalars(
        db.select(AuditEntry).where(
            AuditEntry.object_type == "documents",
            AuditEntry.object_id == document_id,
            AuditEntry.action != "document_sent",
        )
    ).all()
    assert len(entries) == 1
