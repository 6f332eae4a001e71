#!/usr/bin/env bash
# Microsoft's official Azure DevOps clients against the Azure DevOps simulator.
#
#   infra/ado-client/run.sh
#
# Builds and starts the simulator as a process of its own (ferry-ado-sim, the demo
# organization on 127.0.0.1, a fresh random PAT as the bot user's: the simulator's normal PAT
# check), then runs each client's check, which creates, reads, updates (JSON Patch) and queries
# (WIQL) work items through it after the client's own resource-location discovery:
#   - python_client.py: the `azure-devops` package from PyPI, in infra/ado-client/.venv
#     (made from requirements.txt when missing or when requirements.txt changed);
#   - node_client.mjs: the `azure-devops-node-api` package from npm, in
#     infra/ado-client/node_modules (from package-lock.json, when missing or changed).
# Capture of simulator traffic for the contract check (FERRY_CONTRACT_DIR) is off here: the
# discovery exchanges are not operations of the specs the contract check validates.
# Exits non-zero, naming the step, as soon as any step fails; the simulator is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${FERRY_ADO_CLIENT_VENV:-$here/.venv}"
# npm keeps its download cache with the other CI state, inside the repo.
export npm_config_cache="${npm_config_cache:-$root/target/ci/npm-cache}"

sim_pid=""
scratch="$(mktemp -d "${TMPDIR:-/tmp}/ferry-ado-client.XXXXXX")"
cleanup() {
  local rc=$?
  [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$scratch"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Python client: reinstall only when requirements.txt changed since the venv was made.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "installing the Python client into $venv (requirements.txt)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  echo "$want" >"$stamp"
fi
"$venv/bin/python" -c 'import importlib.metadata as m; print("azure-devops", m.version("azure-devops"), "/ msrest", m.version("msrest"))'

# Node client: `npm ci` only when package-lock.json changed since node_modules was made.
node_stamp="$here/node_modules/.package-lock.sha256"
node_want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [[ ! -d "$here/node_modules" || "$(cat "$node_stamp" 2>/dev/null)" != "$node_want" ]]; then
  echo "installing the Node client into $here/node_modules (package-lock.json)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$node_want" >"$node_stamp"
fi
node -e 'console.log("azure-devops-node-api", require(process.argv[1] + "/node_modules/azure-devops-node-api/package.json").version, "/ node", process.version)' "$here"

(cd "$root" && cargo build -q -p ferry-sim --bin ferry-ado-sim)
pat="$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')"
FERRY_ADO_SIM_PAT="$pat" env -u FERRY_CONTRACT_DIR "$root/target/debug/ferry-ado-sim" \
  --listen "127.0.0.1:${FERRY_ADO_CLIENT_PORT:-0}" >"$scratch/ready" 2>"$scratch/sim.log" &
sim_pid=$!
for _ in $(seq 100); do
  [[ -s "$scratch/ready" ]] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$scratch/sim.log" >&2; echo "ferry-ado-sim exited" >&2; exit 1; }
  sleep 0.1
done
[[ -s "$scratch/ready" ]] || { echo "ferry-ado-sim did not start in 10 s" >&2; exit 1; }
url="$("$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["url"])' <"$scratch/ready")"
project="$("$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["project"])' <"$scratch/ready")"
echo "simulator: $url (project $project)"

FERRY_ADO_PAT="$pat" "$venv/bin/python" "$here/python_client.py" "$url" "$project"
FERRY_ADO_PAT="$pat" node "$here/node_client.mjs" "$url" "$project"
echo "official clients: every step passed"
