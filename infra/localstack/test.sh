#!/usr/bin/env bash
# The AWS backend's tests on LocalStack (host mode, no Docker), after the same ones on moto:
#   1. LocalStack on 127.0.0.1 with template.yaml's resources (host.sh start), unless our
#      instance is already running
#   2. the sync, conflict and security scenarios on the AWS backend, through the real Lambda
#      handlers (FERRY_E2E_BACKEND=aws; one thread, since the worlds share the queues)
#   3. the fault-injection suite (tests/faults) on its own stack
# infra/test.sh runs this after its moto leg (FERRY_SKIP_LOCALSTACK=1 skips it); .ci/run runs
# it as a step of its own. Each part's time is printed at the end. LocalStack is stopped on
# exit if this script started it.
#
#   FERRY_LOCALSTACK_PORT             default 4566 (see host.sh for the other settings)
#   FERRY_FAULTS_SEED                 default 20261126 (the moto leg's)
#   FERRY_FAULTS_LOCALSTACK_CHANGES   default 300
#   FERRY_FAULTS_LOCALSTACK_VISIBILITY  seconds, default 10 (see below)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
STATE="$ROOT/target/ci"
mkdir -p "$STATE"
HOST=infra/localstack/host.sh
# shellcheck source=../sections.sh
source infra/sections.sh

STARTED=0
cleanup() {
  local rc=$?
  set +e
  ((STARTED)) && "$HOST" stop
  sections_report "$rc" "LocalStack leg timings"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section "LocalStack: host mode + template resources (infra/localstack/host.sh)"
"$HOST" status >/dev/null 2>&1 || STARTED=1
"$HOST" start
# shellcheck source=/dev/null
source infra/.localstack.env

section "sync, conflict and security scenarios on the AWS backend (LocalStack, real Lambda handlers)"
FERRY_E2E_BACKEND=aws cargo test -p ferry-cli --test e2e -- --test-threads=1 sync:: conflicts:: security::

section "fault-injection suite (tests/faults) on the AWS backend (LocalStack)"
# Its own stack: the suite's queues must hold nothing of the scenarios'.
# LocalStack, like SQS, refuses to delete a FIFO message whose receipt handle has expired, so
# the receive visibility must outlast the slowest batch (up to ~4 s here, with the suite's
# 2.5 s simulator hangs); the suite's 1 s default, fine on moto, dead-letters messages here.
faults_env="$STATE/localstack-faults.env"
"${FERRY_LOCALSTACK_VENV:-$ROOT/.venv-localstack}/bin/python" infra/emulator_resources.py \
  --endpoint "$AWS_ENDPOINT_URL" --account-id 000000000000 \
  --stack-name ferry-faults --env-file "$faults_env" --quiet
(
  # shellcheck source=/dev/null
  source "$faults_env"
  cargo run -q -p ferry-faults -- --backend aws --changes "${FERRY_FAULTS_LOCALSTACK_CHANGES:-300}" \
    --seed "${FERRY_FAULTS_SEED:-20261126}" --visibility "${FERRY_FAULTS_LOCALSTACK_VISIBILITY:-10}"
)
