"""Contact import: a CRM's CSV with a column mapping becomes one identify call per row; rows
merge into existing profiles by their identifiers; bad rows are reported by line and
quarantined; the rest land."""

from __future__ import annotations

import base64

import httpx

from haina.testing import LiveServer

CSV = """Name,Email,Mobile,Company,Industry
李雷,Li.Lei@Example.com,138 0013 8000,海纳科技,software
韩梅梅,han@example.cn,12345,某某公司,finance
无名,,,No Identifiers Ltd,retail
王芳,wang@example.cn,+86 139 0000 0001,北京贸易,retail
"""


def test_contacts_merge_into_profiles_and_bad_rows_are_named(live: LiveServer, ws) -> None:
    key = base64.b64encode(f"{ws['write_key']}:".encode()).decode()
    r = httpx.post(
        live.url + "/v1/identify",
        json={"userId": "crm-1", "anonymousId": "web-9", "traits": {"email": "li.lei@example.com"}},
        headers={"Authorization": f"Basic {key}"},
    )
    assert r.status_code == 200
    auth = {"Authorization": f"Bearer {ws['api_token']}"}
    r = httpx.post(
        live.url + "/api/v1/contacts/import",
        headers=auth,
        json={"data": CSV, "file_name": "crm.csv",
              "mapping": {"traits.email": "Email", "traits.phone": "Mobile",
                          "traits.name": "Name"}},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["stored"] == 2 and body["quarantined"] == 2
    errors = {e["line"]: (e["field"], e["code"]) for e in body["errors"]}
    assert errors == {
        3: ("traits.phone", "invalid_identifier"),
        4: ("traits.email", "unmappable_row"),
    }

    li = httpx.get(live.url + "/api/v1/profiles/lookup", headers=auth,
                   params={"type": "phone", "value": "13800138000"}).json()  # fmt: skip
    ids = {(i["type"], i["value"]) for i in li["identities"]}
    assert ("user_id", "crm-1") in ids and ("anonymous_id", "web-9") in ids  # merged by e-mail
    assert li["traits"]["Company"] == "海纳科技" and li["traits"]["name"] == "李雷"
    wang = httpx.get(live.url + "/api/v1/profiles/lookup", headers=auth,
                     params={"type": "email", "value": "wang@example.cn"}).json()  # fmt: skip
    assert wang["person_id"] != li["person_id"] and wang["traits"]["Industry"] == "retail"

    # Importing the same file again stores nothing new.
    again = httpx.post(live.url + "/api/v1/contacts/import", headers=auth,
                       json={"data": CSV, "file_name": "crm.csv",
                             "mapping": {"traits.email": "Email", "traits.phone": "Mobile",
                                         "traits.name": "Name"}}).json()  # fmt: skip
    assert again["stored"] == 0 and again["duplicates"] == 2
