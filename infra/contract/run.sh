#!/usr/bin/env bash
# Protocol contract check over captured simulator traffic.
#
#   infra/contract/run.sh TRAFFIC_DIR
#
# TRAFFIC_DIR is what FERRY_CONTRACT_DIR pointed at while the e2e suite ran
# (`FERRY_CONTRACT_DIR=DIR cargo test -p ferry-cli --test e2e`). This script makes the venv
# (infra/contract/.venv, pip packages from requirements.txt), derives the Azure DevOps specs,
# runs the checker's own tests (which include crafted bad exchanges that must fail), then
# checks the traffic and prints the report (also written to TRAFFIC_DIR/report.{md,json}).
# Exit status is the checker's: non-zero when any exchange breaks the specs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
traffic="${1:?usage: run.sh TRAFFIC_DIR}"
venv="${FERRY_CONTRACT_VENV:-$here/.venv}"

# Reinstall only when requirements.txt changed since the venv was made.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$want" > "$stamp"
fi

"$venv/bin/python" "$here/derive_ado_specs.py" --out "$here/specs-derived/ado"
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/test_check.py"
"$venv/bin/python" "$here/check.py" "$traffic" --derived "$here/specs-derived/ado"
