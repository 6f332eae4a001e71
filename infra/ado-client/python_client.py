"""The official Azure DevOps Python client (`azure-devops`) against the Azure DevOps simulator.

    python python_client.py URL PROJECT        (the PAT in FERRY_ADO_PAT)

Every step goes through the client's own resource-location discovery (OPTIONS {org}/_apis,
GET _apis/ResourceAreas) and then its generated 7.1 methods: a wrong PAT is refused, then a
work item is created, read, updated with a JSON Patch (with a `test` of its revision) and found
with WIQL. Any step that fails stops the check with its name and the client's error (exit 1).
"""

import os
import sys
import tempfile
import time
import uuid

# The client caches discovery answers on disk (~/.azure-devops by default); each run keeps
# its own, so an answer from an earlier simulator can never stand in for this one's.
os.environ["AZURE_DEVOPS_CACHE_DIR"] = tempfile.mkdtemp(prefix="ferry-ado-client-")

from azure.devops.connection import Connection  # noqa: E402
from azure.devops.exceptions import AzureDevOpsAuthenticationError  # noqa: E402
from azure.devops.v7_1.work_item_tracking.models import JsonPatchOperation, TeamContext, Wiql  # noqa: E402
from msrest.authentication import BasicAuthentication  # noqa: E402


class StepFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise StepFailed(message)


def step(name, action):
    t0 = time.monotonic()
    try:
        result = action()
    except Exception as e:  # the client's own errors, shown as it raised them
        print(f"FAIL python/{name}: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"ok   python/{name} ({(time.monotonic() - t0) * 1000:.0f} ms)")
    return result


def wrong_pat_is_refused(url):
    wit = Connection(base_url=url, creds=BasicAuthentication("", "not-the-pat"))
    try:
        wit.clients_v7_1.get_work_item_tracking_client()
    except AzureDevOpsAuthenticationError:
        return
    raise StepFailed("a wrong PAT was accepted")


def main():
    url, project = sys.argv[1], sys.argv[2]
    pat = os.environ.get("FERRY_ADO_PAT", "")
    expect(pat, "FERRY_ADO_PAT is not set")
    title = f"official python client {uuid.uuid4()}"

    step("wrong PAT refused", lambda: wrong_pat_is_refused(url))
    connection = Connection(base_url=url, creds=BasicAuthentication("", pat))
    wit = step("discovery (ResourceAreas, OPTIONS)", connection.clients_v7_1.get_work_item_tracking_client)

    def create():
        doc = [
            JsonPatchOperation(op="add", path="/fields/System.Title", value=title),
            JsonPatchOperation(op="add", path="/fields/System.Description", value="<p>created by azure-devops</p>"),
        ]
        item = wit.create_work_item(document=doc, project=project, type="Task")
        expect(item.id and item.fields["System.Title"] == title, f"created item: {item.as_dict()}")
        return item

    created = step("create work item", create)

    def read():
        item = wit.get_work_item(created.id, project=project)
        expect(item.fields["System.Title"] == title and item.rev == created.rev, f"read back: {item.as_dict()}")
        return item

    read_back = step("read work item", read)

    def update():
        doc = [
            JsonPatchOperation(op="test", path="/rev", value=read_back.rev),
            JsonPatchOperation(op="replace", path="/fields/System.Title", value=title + " (updated)"),
            JsonPatchOperation(op="add", path="/fields/System.State", value="Active"),
        ]
        item = wit.update_work_item(document=doc, id=created.id, project=project)
        expect(item.rev == read_back.rev + 1, f"revision after the update: {item.rev}")
        expect(item.fields["System.Title"] == title + " (updated)", f"title: {item.fields['System.Title']}")
        return item

    step("update work item (JSON Patch)", update)

    def stale_update_is_refused():
        doc = [
            JsonPatchOperation(op="test", path="/rev", value=read_back.rev),
            JsonPatchOperation(op="replace", path="/fields/System.Title", value="must not land"),
        ]
        try:
            wit.update_work_item(document=doc, id=created.id, project=project)
        except Exception:
            return
        raise StepFailed("a JSON Patch testing a stale /rev was applied")

    step("stale JSON Patch refused", stale_update_is_refused)

    def query():
        wiql = Wiql(
            query="SELECT [System.Id] FROM WorkItems "
            f"WHERE [System.TeamProject] = '{project}' AND [System.Title] CONTAINS '(updated)' "
            "ORDER BY [System.Id]"
        )
        result = wit.query_by_wiql(wiql, team_context=TeamContext(project=project))
        ids = [r.id for r in result.work_items]
        expect(created.id in ids, f"WIQL found {ids}, not {created.id}")
        items = wit.get_work_items(ids=ids, project=project, fields=["System.Title", "System.State"])
        expect(
            any(i.id == created.id and i.fields["System.State"] == "Active" for i in items),
            f"batch read: {[i.as_dict() for i in items]}",
        )

    step("query work items (WIQL)", query)


if __name__ == "__main__":
    main()
