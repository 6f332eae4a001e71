#!/usr/bin/env bash
# The whole test suite on a fresh machine, in one command (README's test command;
# .ci/run calls it too):
#   1. starts what the tests need on 127.0.0.1 unless already running: moto with
#      template.yaml's resources (infra/moto.sh), a real Redmine (infra/redmine.sh), and
#      chromedriver with headless Chromium for the console's browser tests
#      (infra/chromium.sh; installs Debian's chromium and chromium-driver when missing), and
#      the Git servers of the source-control tests: git daemon and smart HTTP through
#      git http-backend (infra/git-servers.sh; Debian's git)
#   2. `cargo test --workspace` with the emulator's settings (AWS contract tests, the
#      embedded e2e suite, the Redmine e2e tests against the real server), the simulators'
#      traffic captured for step 4 as it runs
#   3. the sync scenarios (and edges: missing fields, rotation, filters; commit links) again on the AWS backend, through the real Lambda handlers
#      (FERRY_E2E_BACKEND=aws; in two shards side by side, each on a moto of its own)
#   4. the protocol contract check: the traffic step 2 captured (every test that talks to
#      a simulator), validated against the official Jira / Azure DevOps specs
#   5. the fault-injection suite (tests/faults) on both backends, with webhooks off and on,
#      each AWS run on its own emulator stack
#   6. the LocalStack leg (infra/localstack/test.sh): LocalStack on the host (no Docker), the
#      AWS-backend scenarios and a fault-suite run on it. Moto stays the fast default:
#      FERRY_SKIP_LOCALSTACK=1 skips this leg (.ci/run runs it as a step of its own).
# Every server this script started is stopped when it exits; each section's time is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
STATE="$ROOT/target/ci"
mkdir -p "$STATE"
# shellcheck source=sections.sh
source infra/sections.sh

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
STARTED_MOTO=0
STARTED_REDMINE=0
STARTED_CHROMEDRIVER=0
STARTED_GIT=0
STARTED_MOTO_SHARD=0
cleanup() {
  local rc=$?
  set +e
  ((STARTED_MOTO)) && infra/moto.sh stop
  ((STARTED_MOTO_SHARD)) && FERRY_MOTO_NAME=shard2 FERRY_MOTO_PORT=$((${FERRY_MOTO_PORT:-5000} + 1)) infra/moto.sh stop
  ((STARTED_REDMINE)) && infra/redmine.sh stop
  ((STARTED_CHROMEDRIVER)) && infra/chromium.sh stop
  ((STARTED_GIT)) && infra/git-servers.sh stop
  sections_report "$rc" "infra/test.sh timings"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section "emulator: moto + template resources (infra/moto.sh)"
alive infra/.moto.pid || STARTED_MOTO=1
infra/moto.sh start
# shellcheck source=/dev/null
source infra/.emulator.env

section "redmine (infra/redmine.sh)"
alive infra/.redmine.pid || STARTED_REDMINE=1
infra/redmine.sh start

section "browser: headless Chromium + chromedriver (infra/chromium.sh)"
alive infra/.chromedriver.pid || STARTED_CHROMEDRIVER=1
infra/chromium.sh start
# shellcheck source=/dev/null
source infra/.webdriver.env

section "git servers: git daemon + smart HTTP (infra/git-servers.sh)"
alive infra/.git-servers/daemon.pid || STARTED_GIT=1
infra/git-servers.sh start

section "cargo test --workspace (simulator traffic captured for the contract check)"
traffic="$STATE/contract"
rm -rf "$traffic" && mkdir -p "$traffic"
FERRY_CONTRACT_DIR="$traffic" cargo test --workspace

section "sync, conflict, security, edge, backlog, delivery, collaboration, first-steps, backfill, webhook, rate-limit and commit-link scenarios on the AWS backend (moto, real Lambda handlers; two shards)"
# Two shards side by side, each on a moto of its own, each one test at a time: one moto
# serves one request at a time, and a shard's 60 MB upload would stall the other's
# requests past the SDK's timeouts. (Each world also has queues of its own.)
shard_port=$((${FERRY_MOTO_PORT:-5000} + 1))
alive infra/.moto-shard2.pid || STARTED_MOTO_SHARD=1
FERRY_MOTO_NAME=shard2 FERRY_MOTO_PORT="$shard_port" infra/moto.sh start
cargo test -p ferry-cli --test e2e --no-run
shard_log="$STATE/aws-shard2.log"
(
  # shellcheck source=/dev/null
  source infra/.emulator-shard2.env
  FERRY_E2E_BACKEND=aws cargo test -p ferry-cli --test e2e -- --test-threads=1 \
    backlog:: delivery:: collab:: hierarchy:: scm::
) >"$shard_log" 2>&1 &
shard_pid=$!
shard1_rc=0
FERRY_E2E_BACKEND=aws cargo test -p ferry-cli --test e2e -- --test-threads=1 \
  sync:: conflicts:: security:: edges:: deletions:: first_steps:: backfill:: webhooks:: governor:: || shard1_rc=$?
shard2_rc=0
wait "$shard_pid" || shard2_rc=$?
echo "-- AWS shard 2 (backlog, delivery, collab, hierarchy, scm; moto on port $shard_port):"
cat "$shard_log"
((STARTED_MOTO_SHARD)) && FERRY_MOTO_NAME=shard2 FERRY_MOTO_PORT="$shard_port" infra/moto.sh stop
STARTED_MOTO_SHARD=0
if ((shard1_rc || shard2_rc)); then
  echo "AWS scenarios failed: shard 1 exit $shard1_rc, shard 2 exit $shard2_rc" >&2
  exit 1
fi

section "protocol contract check (infra/contract) of the workspace tests' traffic"
FERRY_CONTRACT_VENV="$STATE/contract-venv" infra/contract/run.sh "$traffic"

section "fault-injection suite (tests/faults) on the embedded backend"
# A fixed seed keeps CI reproducible (pass another through FERRY_FAULTS_SEED). moto answers
# ~25 ms per request, so the AWS run is smaller to stay within a few minutes.
faults_seed="${FERRY_FAULTS_SEED:-20261126}"
cargo run -q -p ferry-faults -- --backend embedded --changes "${FERRY_FAULTS_CHANGES:-2000}" --seed "$faults_seed"

section "fault-injection suite (tests/faults) on the embedded backend, changes carried by webhooks"
cargo run -q -p ferry-faults -- --backend embedded --changes "${FERRY_FAULTS_HOOKS_CHANGES:-500}" --seed "$faults_seed" \
  --hooks on

section "fault-injection suite (tests/faults) on the AWS backend (moto)"
# Its own stack on the emulator: the suite's queues must hold nothing of other runs.
faults_env="$STATE/faults.env"
"${FERRY_MOTO_VENV:-$ROOT/.venv-moto}/bin/python" infra/emulator_resources.py --endpoint "$AWS_ENDPOINT_URL" \
  --stack-name ferry-faults --env-file "$faults_env" --quiet
(
  # shellcheck source=/dev/null
  source "$faults_env"
  cargo run -q -p ferry-faults -- --backend aws --changes "${FERRY_FAULTS_AWS_CHANGES:-500}" --seed "$faults_seed"
)

section "fault-injection suite (tests/faults) on the AWS backend (moto), changes carried by webhooks"
# Its own stack again: the hook function's deliveries must meet empty queues.
hooks_env="$STATE/faults-hooks.env"
"${FERRY_MOTO_VENV:-$ROOT/.venv-moto}/bin/python" infra/emulator_resources.py --endpoint "$AWS_ENDPOINT_URL" \
  --stack-name ferry-faults-hooks --env-file "$hooks_env" --quiet
(
  # shellcheck source=/dev/null
  source "$hooks_env"
  cargo run -q -p ferry-faults -- --backend aws --changes "${FERRY_FAULTS_AWS_HOOKS_CHANGES:-300}" \
    --seed "$faults_seed" --hooks on
)

if [[ "${FERRY_SKIP_LOCALSTACK:-0}" == 1 ]]; then
  section "LocalStack leg: skipped (FERRY_SKIP_LOCALSTACK=1)"
else
  section "LocalStack leg (infra/localstack/test.sh)"
  infra/localstack/test.sh
fi
