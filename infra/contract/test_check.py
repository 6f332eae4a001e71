"""The contract checker judged on crafted exchanges: good ones pass, each kind of break fails."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import check  # noqa: E402
import derive_ado_specs  # noqa: E402

ADO = "/acme"
WI = {
    "id": 7,
    "rev": 2,
    "fields": {
        "System.Title": "Checkout fails",
        "System.State": "Active",
        "Microsoft.VSTS.Common.Priority": 2,
        "System.AssignedTo": {"displayName": "Alice", "id": "2f5b8a8e-7d2b-4c1e-9a57-3b7d1c0e9f11"},
    },
    "url": "http://127.0.0.1/acme/_apis/wit/workItems/7",
    "_links": {"self": {"href": "http://127.0.0.1/acme/_apis/wit/workItems/7"}},
}
ISSUE = {"id": "10000", "key": "APP-1", "self": "http://127.0.0.1/rest/api/3/issue/10000", "fields": {"summary": "x"}}


@pytest.fixture(scope="module")
def checker(tmp_path_factory) -> check.Checker:
    derived = tmp_path_factory.mktemp("derived")
    assert derive_ado_specs.main(["--out", str(derived)]) == 0
    return check.load_specs(HERE / "specs", derived)


def ex(service, method, path, query="", req=None, status=200, resp=None, ctype="application/json", injected=None):
    return {
        "service": service,
        "method": method,
        "path": path,
        "query": query,
        "auth_scheme": "Basic",
        "request_content_type": ctype if req is not None else None,
        "request_body": json.dumps(req) if req is not None else None,
        "status": status,
        "response_content_type": "application/json",
        "response_body": json.dumps(resp) if resp is not None else None,
        "injected": injected,
    }


def with_(exchange: dict, **extra) -> dict:
    """An exchange with more captured fields (headers, binary sizes, multipart parts)."""
    return {**exchange, **extra}


ATTACHMENT = {"id": "10001", "self": "http://x/rest/api/3/attachment/10001", "filename": "a.png", "size": 3,
              "mimeType": "image/png", "content": "http://x/rest/api/3/attachment/content/10001",
              "created": "2026-11-26T19:24:50.123+0100"}
FILE_PART = {"name": "file", "filename": "a.png", "content_type": "image/png", "size": 3}
UPLOAD = with_(ex("jira", "POST", "/rest/api/3/issue/APP-1/attachments", resp=[ATTACHMENT]),
               request_content_type="multipart/form-data; boundary=B", request_body_size=180,
               request_parts=[FILE_PART], request_headers={"x-atlassian-token": "no-check"})
COMMENT = {"id": "10000", "self": "http://x/rest/api/3/issue/10000/comment/10000", "jsdPublic": True,
           "body": {"type": "doc", "version": 1, "content": []}, "created": "2026-11-26T19:24:50.123+0100",
           "updated": "2026-11-26T19:24:50.123+0100", "author": {"accountId": "a"}, "updateAuthor": {"accountId": "a"}}
GUID = "a5cedde4-2dd5-4fcf-befe-fd0977dd3433"
ADO_UPLOAD = with_(
    ex("ado", "POST", f"{ADO}/App/_apis/wit/attachments", "fileName=a.png&uploadType=Simple&api-version=7.1",
       status=201, resp={"id": GUID, "url": f"http://x/acme/_apis/wit/attachments/{GUID}?fileName=a.png"}),
    request_content_type="application/octet-stream", request_body_size=3)
ADO_CHUNK = with_(
    ex("ado", "PUT", f"{ADO}/App/_apis/wit/attachments/{GUID}", "api-version=7.1", status=201,
       resp={"id": GUID, "url": f"http://x/acme/_apis/wit/attachments/{GUID}"}),
    request_content_type="application/octet-stream", request_body_size=10,
    request_headers={"content-range": "bytes 0-9/30"})
ADO_COMMENT = {"id": 5, "workItemId": 7, "version": 1, "text": "<p>x</p>", "format": "html", "isDeleted": False,
               "createdDate": "2026-11-26T10:00:00.123Z", "url": "http://x/acme/App/_apis/wit/workItems/7/comments/5"}
RELATION_TYPE = {"referenceName": "System.LinkTypes.Hierarchy-Reverse", "name": "Parent", "url": "u",
                 "attributes": {"usage": "workItemLink", "isForward": False, "topology": "tree"}}


def verdict(checker, exchange):
    op, v = checker.check(exchange)
    return (op.op_id if op else None), v


GOOD = [
    (
        "jira create issue",
        ex("jira", "POST", "/rest/api/3/issue", req={"fields": {"summary": "x", "project": {"key": "APP"}}},
           status=201, resp={"id": "10000", "key": "APP-1", "self": "http://x/rest/api/3/issue/10000"}),
        "createIssue",
    ),
    (
        "jira search with jql",
        ex("jira", "POST", "/rest/api/3/search/jql",
           req={"jql": "project = APP ORDER BY updated ASC", "fields": ["summary"], "maxResults": 50},
           resp={"issues": [ISSUE], "isLast": True}),
        "searchAndReconsileIssuesUsingJqlPost",
    ),
    (
        "ado create with primitive json-patch values (derived schema)",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/workitems/$Bug", "api-version=7.1",
           req=[{"op": "add", "path": "/fields/System.Title", "value": "t"},
                {"op": "add", "path": "/fields/Microsoft.VSTS.Common.Priority", "value": 2}],
           ctype="application/json-patch+json", resp=WI),
        "Work Items_Create",
    ),
    (
        "ado wiql without the optional team segment, odd casing",
        ex("ado", "POST", f"{ADO}/App/_APIS/WIT/WIQL", "api-version=7.1&timePrecision=true&%24top=200",
           req={"query": "SELECT [System.Id] FROM WorkItems"},
           resp={"queryType": "flat", "asOf": "2026-11-26T10:00:00.123Z", "workItems": [{"id": 7, "url": "u"}]}),
        "Wiql_Query By Wiql",
    ),
    (
        "ado list wrapped as {count, value}",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/workitemsbatch", "api-version=7.1",
           req={"ids": [7], "$expand": "relations"}, resp={"count": 1, "value": [WI]}),
        "Work Items_Get Work Items Batch",
    ),
    (
        "ado comments list (x-ms-paths variant without ids)",
        ex("ado", "GET", f"{ADO}/App/_apis/wit/workItems/7/comments", "api-version=7.1-preview.4&%24top=100",
           resp={"totalCount": 0, "count": 0, "comments": []}),
        "Comments_Get Comments",
    ),
    (
        "ado 412 with the service's error body",
        ex("ado", "PATCH", f"{ADO}/App/_apis/wit/workitems/7", "api-version=7.1",
           req=[{"op": "test", "path": "/rev", "value": 1}], ctype="application/json-patch+json", status=412,
           resp={"message": "TF26071", "typeKey": "WorkItemRevisionMismatchException"}),
        "Work Items_Update",
    ),
    (
        "ado identity search with the wire's string descriptor",
        ex("ado", "GET", f"{ADO}/_apis/identities", "searchFilter=General&filterValue=a%40x.test&api-version=7.1",
           resp={"count": 1, "value": [{"id": "2f5b8a8e-7d2b-4c1e-9a57-3b7d1c0e9f11",
                                        "descriptor": "Microsoft.IdentityModel.Claims.ClaimsIdentity;t\\a@x.test"}]}),
        "Identities_Read Identities",
    ),
    (
        "ado 401 for credentials the service does not accept (empty body)",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/wiql", "api-version=7.1", req={"query": "SELECT"}, status=401),
        "Wiql_Query By Wiql",
    ),
    ("jira multipart upload with the XSRF header and file parts", UPLOAD, "addAttachment"),
    (
        "jira attachment content: 303 with Location",
        with_(ex("jira", "GET", "/rest/api/3/attachment/content/10001", status=303),
              response_headers={"location": "http://127.0.0.1/media/file/x/binary?token=t"}),
        "getAttachmentContent",
    ),
    (
        "jira attachment content bytes with redirect=false",
        with_(ex("jira", "GET", "/rest/api/3/attachment/content/10001", "redirect=false"),
              response_content_type="image/png", response_body_size=3),
        "getAttachmentContent",
    ),
    (
        "jira comment with an ADF body",
        ex("jira", "POST", "/rest/api/3/issue/APP-1/comment", req={"body": COMMENT["body"]}, status=201, resp=COMMENT),
        "addComment",
    ),
    (
        "jira issue link, 201 without a body",
        ex("jira", "POST", "/rest/api/3/issueLink",
           req={"type": {"name": "Blocks"}, "inwardIssue": {"key": "APP-1"}, "outwardIssue": {"key": "APP-2"}}, status=201),
        "linkIssues",
    ),
    ("ado simple upload of bytes, 201", ADO_UPLOAD, "Attachments_Create"),
    ("ado chunk with Content-Range", ADO_CHUNK, "Attachments_Upload Chunk"),
    (
        "ado chunked upload registered without a body",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/attachments", "fileName=big.zip&uploadType=Chunked&api-version=7.1",
           status=201, resp={"id": GUID, "url": "u"}),
        "Attachments_Create",
    ),
    (
        "ado attachment download without api-version (an <img> source)",
        with_(ex("ado", "GET", f"{ADO}/App/_apis/wit/attachments/{GUID}", "fileName=a.png"),
              response_content_type="application/octet-stream", response_body_size=3),
        "Attachments_Get",
    ),
    (
        "ado comment added as markdown",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/workItems/7/comments", "format=markdown&api-version=7.1-preview.4",
           req={"text": "**x**"}, resp=ADO_COMMENT),
        "Comments_Add Work Item Comment",
    ),
    (
        "ado relation types with primitive attributes",
        ex("ado", "GET", f"{ADO}/_apis/wit/workitemrelationtypes", "api-version=7.1",
           resp={"count": 1, "value": [RELATION_TYPE]}),
        "Work Item Relation Types_List",
    ),
    (
        "ado batch with errorPolicy=omit and a null for an unreadable id",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/workitemsbatch", "api-version=7.1",
           req={"ids": [7, 8], "errorPolicy": "omit"}, resp={"count": 2, "value": [WI, None]}),
        "Work Items_Get Work Items Batch",
    ),
    (
        "jira injected 503",
        ex("jira", "GET", "/rest/api/3/issue/APP-1", status=503, resp={"errorMessages": ["x"]}, injected="failure"),
        "getIssue",
    ),
]


@pytest.mark.parametrize("name,exchange,op_id", GOOD, ids=[g[0] for g in GOOD])
def test_good_exchanges_pass(checker, name, exchange, op_id):
    got, v = verdict(checker, exchange)
    assert got == op_id
    assert v.failures == []


BAD = [
    ("unknown jira path", ex("jira", "GET", "/rest/api/3/nothing/here"), "no operation"),
    ("unknown ado route", ex("ado", "GET", f"{ADO}/_apis/wit/nothing", "api-version=7.1"), "no operation"),
    (
        "jira body of the wrong type",
        ex("jira", "POST", "/rest/api/3/issue", req={"fields": "summary=x"}, status=201,
           resp={"id": "1", "key": "APP-1", "self": "s"}),
        "request body at fields",
    ),
    (
        "jira search with a property the spec forbids",
        ex("jira", "POST", "/rest/api/3/search/jql", req={"jql": "x", "startAt": 0}, resp={"issues": []}),
        "Additional properties",
    ),
    (
        "jira response of the wrong shape",
        ex("jira", "GET", "/rest/api/3/issue/APP-1", resp={**ISSUE, "id": 10000}),
        "response body at id",
    ),
    (
        "jira undeclared status that no fault produced",
        ex("jira", "GET", "/rest/api/3/issue/APP-1", status=500, resp={"errorMessages": ["x"]}),
        "not declared",
    ),
    (
        "jira query parameter of the wrong type",
        ex("jira", "GET", "/rest/api/3/issue/APP-1/changelog", "startAt=first", resp={"values": []}),
        "startAt",
    ),
    (
        "ado missing api-version",
        ex("ado", "GET", f"{ADO}/App/_apis/wit/workitems/7", resp=WI),
        "api-version missing",
    ),
    (
        "ado comments without the preview version",
        ex("ado", "GET", f"{ADO}/App/_apis/wit/workItems/7/comments", "api-version=7.1",
           resp={"totalCount": 0, "count": 0, "comments": []}),
        "prescribes '7.1-preview.4'",
    ),
    (
        "ado json-patch sent as plain json",
        ex("ado", "PATCH", f"{ADO}/App/_apis/wit/workitems/7", "api-version=7.1",
           req=[{"op": "add", "path": "/fields/System.Title", "value": "t"}], resp=WI),
        "content type",
    ),
    (
        "ado patch operation with an unknown op",
        ex("ado", "PATCH", f"{ADO}/App/_apis/wit/workitems/7", "api-version=7.1",
           req=[{"op": "upsert", "path": "/fields/System.Title", "value": "t"}],
           ctype="application/json-patch+json", resp=WI),
        "request body at 0/op",
    ),
    (
        "ado work item id that is no integer",
        ex("ado", "GET", f"{ADO}/App/_apis/wit/workitems/seven", "api-version=7.1", resp=WI),
        "not an integer",
    ),
    (
        "ado list wrapper whose count lies",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/workitemsbatch", "api-version=7.1", req={"ids": [7]},
           resp={"count": 2, "value": [WI]}),
        "count",
    ),
    (
        "ado list item of the wrong shape",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/workitemsbatch", "api-version=7.1", req={"ids": [7]},
           resp={"count": 1, "value": [{**WI, "rev": "two"}]}),
        "response body at 0/rev",
    ),
    (
        "ado null outside the places Microsoft's examples show it",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/workitemsbatch", "api-version=7.1", req={"ids": [7]},
           resp={"count": 1, "value": [{**WI, "rev": None}]}),
        "response body at 0/rev",
    ),
    (
        "ado identity descriptor that is neither object nor descriptor string",
        ex("ado", "GET", f"{ADO}/_apis/identities", "searchFilter=General&filterValue=a&api-version=7.1",
           resp={"count": 1, "value": [{"descriptor": 5}]}),
        "response body at 0/descriptor",
    ),
    (
        "jira response that is not json",
        {**ex("jira", "GET", "/rest/api/3/myself", resp={"accountId": "a"}), "response_content_type": "text/html"},
        "response content type",
    ),
    (
        "ado request without credentials",
        {**ex("ado", "GET", f"{ADO}/App/_apis/wit/workitems/7", "api-version=7.1", resp=WI), "auth_scheme": None},
        "Authorization scheme",
    ),
    (
        "ado request with an auth scheme the spec does not define",
        {**ex("ado", "GET", f"{ADO}/App/_apis/wit/workitems/7", "api-version=7.1", resp=WI), "auth_scheme": "Digest"},
        "Authorization scheme",
    ),
    (
        "ado undeclared parameter",
        ex("ado", "GET", f"{ADO}/App/_apis/wit/workitems/7", "api-version=7.1&expand=all", resp=WI),
        "not declared",
    ),
    (
        "ado error status without the service's error body",
        ex("ado", "GET", f"{ADO}/App/_apis/wit/workitems/7", "api-version=7.1", status=404, resp={"oops": 1}),
        "not declared",
    ),
    (
        "ado 401 with a body that is neither empty nor the service's error",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/wiql", "api-version=7.1", req={"query": "SELECT"}, status=401,
           resp={"oops": 1}),
        "not declared",
    ),
    (
        "jira upload without the XSRF header the description requires",
        with_(UPLOAD, request_headers={}),
        "x-atlassian-token",
    ),
    (
        "jira upload whose part is not named file",
        with_(UPLOAD, request_parts=[{**FILE_PART, "name": "upload"}]),
        "named 'file'",
    ),
    (
        "jira upload sent as JSON",
        ex("jira", "POST", "/rest/api/3/issue/APP-1/attachments", req={"file": "a.png"}, resp=[ATTACHMENT]),
        "content type",
    ),
    (
        "jira attachment redirect without a Location",
        ex("jira", "GET", "/rest/api/3/attachment/content/10001", status=303),
        "Location",
    ),
    (
        "jira comment whose id is a number",
        ex("jira", "GET", "/rest/api/3/issue/APP-1/comment/10000", resp={**COMMENT, "id": 10000}),
        "response body at id",
    ),
    (
        "jira issue link request without its outward issue",
        ex("jira", "POST", "/rest/api/3/issueLink", req={"type": {"name": "Blocks"}, "inwardIssue": {"key": "APP-1"}},
           status=201),
        "outwardIssue",
    ),
    (
        "ado upload sent as JSON",
        with_(ADO_UPLOAD, request_content_type="application/json", request_body='{"a": 1}', request_body_size=None),
        "content type",
    ),
    (
        "ado chunk without Content-Range",
        with_(ADO_CHUNK, request_headers={}),
        "content-range",
    ),
    (
        "ado chunk whose Content-Range is not a byte range",
        with_(ADO_CHUNK, request_headers={"content-range": "0-9"}),
        "bytes first-last/total",
    ),
    (
        "ado attachment reference whose id is no GUID",
        with_(ADO_UPLOAD, response_body=json.dumps({"id": "42", "url": "u"})),
        "uuid",
    ),
    (
        "ado upload answered 201 where no 201 deviation applies",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/workItems/7/comments", "api-version=7.1-preview.4",
           req={"text": "x"}, status=201, resp=ADO_COMMENT),
        "not declared",
    ),
    (
        "ado comment whose isDeleted is no boolean",
        ex("ado", "GET", f"{ADO}/App/_apis/wit/workItems/7/comments/5", "api-version=7.1-preview.4",
           resp={**ADO_COMMENT, "isDeleted": "no"}),
        "response body at isDeleted",
    ),
    (
        "ado null work item outside errorPolicy=omit reads",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/wiql", "api-version=7.1", req={"query": "SELECT"},
           resp={"workItems": [None]}),
        "response body at workItems/0",
    ),
    (
        "ado relation type attribute that is a list",
        ex("ado", "GET", f"{ADO}/_apis/wit/workitemrelationtypes", "api-version=7.1",
           resp={"count": 1, "value": [{**RELATION_TYPE, "attributes": {"usage": ["workItemLink"]}}]}),
        "response body at 0/attributes/usage",
    ),
    (
        "ado file bytes where the operation answers JSON",
        with_(ex("ado", "GET", f"{ADO}/App/_apis/wit/workItems/7/comments/5", "api-version=7.1-preview.4"),
              response_content_type="application/json", response_body_size=3),
        "binary response body",
    ),
    (
        "ado comment read without api-version (only attachment downloads may)",
        ex("ado", "GET", f"{ADO}/App/_apis/wit/workItems/7/comments/5", resp=ADO_COMMENT),
        "api-version missing",
    ),
    (
        "ado timestamp that is not RFC 3339",
        ex("ado", "POST", f"{ADO}/App/_apis/wit/wiql", "api-version=7.1", req={"query": "SELECT"},
           resp={"asOf": "26.11.2026 10:00", "workItems": []}),
        "date-time",
    ),
]


@pytest.mark.parametrize("name,exchange,needle", BAD, ids=[b[0] for b in BAD])
def test_each_kind_of_break_fails_with_a_reason(checker, name, exchange, needle):
    _, v = verdict(checker, exchange)
    assert v.failures, f"{name} passed"
    assert any(needle in f for f in v.failures), v.failures


def test_known_deviations_are_counted_not_hidden(checker):
    _, v = verdict(checker, GOOD[4][1])
    assert v.deviations == {"ado-list-wrapper", "ado-workitem-field-values", "ado-pat-basic-auth"}


def test_collaboration_deviations_are_counted_where_they_apply(checker):
    by_name = {g[0]: g[1] for g in GOOD}
    cases = {
        "ado simple upload of bytes, 201": "ado-attachment-created-201",
        "ado chunked upload registered without a body": "ado-chunked-register-empty-body",
        "ado attachment download without api-version (an <img> source)": "ado-attachment-download-without-api-version",
        "ado relation types with primitive attributes": "ado-relation-type-attribute-values",
        "ado batch with errorPolicy=omit and a null for an unreadable id": "ado-omitted-work-items",
        "ado chunk with Content-Range": "ado-content-range-header",
    }
    for name, dev in cases.items():
        _, v = verdict(checker, by_name[name])
        assert dev in v.deviations, (name, v.deviations)
    _, v = verdict(checker, by_name["jira multipart upload with the XSRF header and file parts"])
    assert v.deviations == {"jira-timestamp-offset"}


def test_a_run_with_one_bad_exchange_exits_non_zero_and_reports_it(tmp_path, checker):
    traffic = tmp_path / "traffic"
    traffic.mkdir()
    lines = [GOOD[0][1], BAD[0][1]]
    (traffic / "jira-1-1.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    derived = tmp_path / "derived"
    derive_ado_specs.main(["--out", str(derived)])
    assert check.main([str(traffic), "--derived", str(derived)]) == 1
    report = json.loads((traffic / "report.json").read_text())
    assert report["result"] == "fail"
    results = {o["operation_id"]: o["result"] for o in report["operations"]}
    assert results == {"createIssue": "pass", "(unmatched)": "FAIL"}
    assert "(unmatched)" in (traffic / "report.md").read_text()


def test_an_empty_capture_is_an_error_not_a_pass(tmp_path, capsys):
    derived = tmp_path / "derived"
    derive_ado_specs.main(["--out", str(derived)])
    (tmp_path / "traffic").mkdir()
    assert check.main([str(tmp_path / "traffic"), "--derived", str(derived)]) == 2
    assert "no exchanges" in capsys.readouterr().err
