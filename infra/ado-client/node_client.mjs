// The official Azure DevOps Node client (`azure-devops-node-api`) against the Azure DevOps
// simulator:
//
//     node node_client.mjs URL PROJECT        (the PAT in FERRY_ADO_PAT)
//
// The client discovers locations its own way (OPTIONS {org}/_apis/{area}, then
// GET _apis/ResourceAreas); then a wrong PAT is refused, and a work item is created, read,
// updated with a JSON Patch (testing its revision) and found with WIQL. Any failing step
// stops the check with its name and the client's error (exit 1).
import { randomUUID } from "node:crypto";
import azdev from "azure-devops-node-api";

const [url, project] = process.argv.slice(2);
const pat = process.env.FERRY_ADO_PAT ?? "";

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function step(name, action) {
  const t0 = performance.now();
  let result;
  try {
    result = await action();
  } catch (e) {
    console.error(`FAIL node/${name}: ${e?.statusCode ?? ""} ${e?.message ?? e}`);
    process.exit(1);
  }
  console.log(`ok   node/${name} (${Math.round(performance.now() - t0)} ms)`);
  return result;
}

async function main() {
  expect(url && project, "usage: node node_client.mjs URL PROJECT");
  expect(pat, "FERRY_ADO_PAT is not set");
  const title = `official node client ${randomUUID()}`;

  await step("wrong PAT refused", async () => {
    const wrong = new azdev.WebApi(url, azdev.getPersonalAccessTokenHandler("not-the-pat"));
    try {
      await wrong.getWorkItemTrackingApi();
    } catch (e) {
      expect(e.statusCode === 401 || /401/.test(String(e.message)), `refused, but not with a 401: ${e.message}`);
      return;
    }
    throw new Error("a wrong PAT was accepted");
  });

  const connection = new azdev.WebApi(url, azdev.getPersonalAccessTokenHandler(pat));
  const wit = await step("discovery (ResourceAreas, OPTIONS)", () => connection.getWorkItemTrackingApi());

  const created = await step("create work item", async () => {
    const doc = [
      { op: "add", path: "/fields/System.Title", value: title },
      { op: "add", path: "/fields/System.Description", value: "<p>created by azure-devops-node-api</p>" },
    ];
    const item = await wit.createWorkItem(null, doc, project, "Task");
    expect(item?.id && item.fields["System.Title"] === title, `created item: ${JSON.stringify(item)}`);
    return item;
  });

  const readBack = await step("read work item", async () => {
    const item = await wit.getWorkItem(created.id, undefined, undefined, undefined, project);
    expect(item?.fields["System.Title"] === title && item.rev === created.rev, `read back: ${JSON.stringify(item)}`);
    return item;
  });

  await step("update work item (JSON Patch)", async () => {
    const doc = [
      { op: "test", path: "/rev", value: readBack.rev },
      { op: "replace", path: "/fields/System.Title", value: `${title} (updated)` },
      { op: "add", path: "/fields/System.State", value: "Active" },
    ];
    const item = await wit.updateWorkItem(null, doc, created.id, project);
    expect(item?.rev === readBack.rev + 1, `revision after the update: ${item?.rev}`);
    expect(item.fields["System.Title"] === `${title} (updated)`, `title: ${item.fields["System.Title"]}`);
  });

  await step("stale JSON Patch refused", async () => {
    const doc = [
      { op: "test", path: "/rev", value: readBack.rev },
      { op: "replace", path: "/fields/System.Title", value: "must not land" },
    ];
    let item;
    try {
      item = await wit.updateWorkItem(null, doc, created.id, project);
    } catch {
      return;
    }
    throw new Error(`a JSON Patch testing a stale /rev was applied: rev ${item?.rev}`);
  });

  await step("query work items (WIQL)", async () => {
    const query =
      "SELECT [System.Id] FROM WorkItems " +
      `WHERE [System.TeamProject] = '${project}' AND [System.Title] = '${title} (updated)'`;
    const result = await wit.queryByWiql({ query }, { project });
    const ids = (result?.workItems ?? []).map((r) => r.id);
    expect(ids.length === 1 && ids[0] === created.id, `WIQL found ${JSON.stringify(ids)}, not ${created.id}`);
    const items = await wit.getWorkItems(ids, ["System.Title", "System.State"], undefined, undefined, undefined, project);
    expect(items?.[0]?.fields["System.State"] === "Active", `batch read: ${JSON.stringify(items)}`);
  });
}

main().catch((e) => {
  console.error(`FAIL node: ${e?.message ?? e}`);
  process.exit(1);
});
