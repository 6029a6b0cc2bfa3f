"""Reading the start of a CSV file before an import is created, through the gateway."""

from __future__ import annotations

import codecs
import uuid

import pytest

from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration


async def test_a_file_start_is_previewed_with_columns_and_suggested_mapping(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    excel = codecs.BOM_UTF8 + "Vorname;Nachname;E-Mail;Notiz\r\nJürgen;Groß;j@x.de;hi\r\n".encode()
    answer = await stack.gateway.post(
        "/api/v1/imports/preview",
        content=excel,
        headers=auth | {"content-type": "text/csv"},
    )
    assert answer.status_code == 200, answer.text
    preview = answer.json()
    assert (preview["encoding"], preview["delimiter"]) == ("utf-8", ";")
    assert preview["suggested_mapping"] == {
        "Vorname": "first_name",
        "Nachname": "last_name",
        "E-Mail": "emails",
    }
    assert preview["columns"][3] == {"name": "Notiz", "suggested_field": None, "samples": ["hi"]}
    assert preview["missing_required"] == []
    assert "current_company" in preview["fields"]

    cut = await stack.gateway.post(
        "/api/v1/imports/preview",
        params={"truncated": "true"},
        content=b"First,Last,Email\nAnna,Berg,a@x.org\nBo,Gr",
        headers=auth | {"content-type": "text/csv"},
    )
    assert cut.status_code == 200, cut.text
    assert cut.json()["columns"][0]["samples"] == ["Anna"]

    refused = await stack.gateway.post(
        "/api/v1/imports/preview", content=b"\r\n", headers=auth | {"content-type": "text/csv"}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "file"
    # An Excel workbook (a ZIP of XML parts) is named as such, not read as Windows-1252.
    workbook = await stack.gateway.post(
        "/api/v1/imports/preview",
        content=b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 22 + b"[Content_Types].xml xl/",
        headers=auth | {"content-type": "text/csv"},
    )
    assert workbook.status_code == 422
    assert workbook.json()["errors"] == [
        {
            "field": "file",
            "pointer": "",
            "source": "body",
            "detail": "This is an Excel workbook (.xlsx); save it as CSV (UTF-8) and upload that",
        }
    ]
    assert workbook.json()["detail"].startswith("the file cannot be read: this is an Excel")
    wrong_type = await stack.gateway.post("/api/v1/imports/preview", json={"a": 1}, headers=auth)
    assert wrong_type.status_code == 415


async def test_a_column_named_as_a_custom_field_suggests_it_in_its_tenant_only(
    stack: Stack,
) -> None:
    key = f"available_{uuid.uuid4().hex[:8]}"
    label = f"Date de disponibilité {key[-8:]}"
    created = await stack.gateway.post(
        "/api/v1/custom-fields",
        json={"key": key, "label": label, "type": "date"},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert created.status_code == 201, created.text
    data = f"Prénom;Nom;Courriel;{label.upper()}\r\nZoë;Ø;z@x.fr;1.1.2027\r\n".encode()
    answers = [
        await stack.gateway.post(
            "/api/v1/imports/preview",
            content=data,
            headers=stack.as_(token) | {"content-type": "text/csv"},
        )
        for token in (ACME_TOKEN, GLOBEX_TOKEN)
    ]
    assert answers[0].json()["suggested_mapping"][label.upper()] == f"custom_fields.{key}"
    assert label.upper() not in answers[1].json()["suggested_mapping"]
