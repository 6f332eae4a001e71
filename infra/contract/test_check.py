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
