from pydantic import BaseModel

from crm_shared import from_document, to_document


class Note(BaseModel):
    id: str
    tenant_id: str
    text: str


def test_a_model_round_trips_through_its_stored_document_with_id_as_underscore_id() -> None:
    note = Note(id="n1", tenant_id="acme", text="hello")
    document = to_document(note)
    assert document == {"_id": "n1", "tenant_id": "acme", "text": "hello"}
    assert from_document(Note, document) == note
    # The stored document is read, not changed.
    assert document == {"_id": "n1", "tenant_id": "acme", "text": "hello"}
