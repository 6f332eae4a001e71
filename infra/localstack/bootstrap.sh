#!/usr/bin/env bash
# Create the resources template.yaml declares on a running LocalStack (the Docker image or
# host.sh's) and write their environment file. Same code as infra/moto.sh
# (infra/emulator_resources.py).
#
#   LOCALSTACK_ENDPOINT   default http://127.0.0.1:4566
#   LOCALSTACK_ACCOUNT_ID default 000000000000 (LocalStack's default account)
#   FERRY_STACK_NAME      default ferry-local
#   FERRY_TEMPLATE_PARAMS e.g. "FunctionTimeout=60 MaxReceives=3"
#   FERRY_EMULATOR_READY_PATH  path polled until the emulator answers
#                         (default /_localstack/health)
#   FERRY_EMULATOR_ENV_FILE  where to write the environment (default infra/.emulator.env)
#   FERRY_EMULATOR_PYTHON a Python with boto3 and PyYAML (default: .venv-moto's, else a
#                         small .venv-bootstrap of its own)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INFRA="$(dirname "$HERE")"
ROOT="$(dirname "$INFRA")"
ENDPOINT="${LOCALSTACK_ENDPOINT:-http://127.0.0.1:4566}"
ACCOUNT="${LOCALSTACK_ACCOUNT_ID:-000000000000}"
STACK="${FERRY_STACK_NAME:-ferry-local}"
READY_PATH="${FERRY_EMULATOR_READY_PATH:-/_localstack/health}"
ENV_FILE="${FERRY_EMULATOR_ENV_FILE:-$INFRA/.emulator.env}"

say() { echo "bootstrap.sh: $*" >&2; }

# A Python with boto3 + PyYAML: the caller's, moto's venv when present, else a small one of its own.
if [[ -n "${FERRY_EMULATOR_PYTHON:-}" ]]; then
  PY="$FERRY_EMULATOR_PYTHON"
elif [[ -x "$ROOT/.venv-moto/bin/python" ]]; then
  PY="$ROOT/.venv-moto/bin/python"
else
  VENV="$ROOT/.venv-bootstrap"
  if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import boto3, yaml' 2>/dev/null; then
    say "installing boto3 and PyYAML into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check boto3 pyyaml
  fi
  PY="$VENV/bin/python"
fi

waited=0
until curl -fsS -o /dev/null --max-time 2 "$ENDPOINT$READY_PATH" 2>/dev/null; do
  if ((waited >= 120)); then
    say "$ENDPOINT does not answer (start LocalStack: docker compose -f infra/localstack/docker-compose.yml up -d, or infra/localstack/host.sh start)"
    exit 1
  fi
  sleep 0.5
  waited=$((waited + 1))
done

params=()
for p in ${FERRY_TEMPLATE_PARAMS:-}; do params+=(--param "$p"); done
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
  "$PY" "$INFRA/emulator_resources.py" --endpoint "$ENDPOINT" --account-id "$ACCOUNT" \
  --template "$ROOT/template.yaml" --stack-name "$STACK" --env-file "$ENV_FILE" \
  ${params[@]+"${params[@]}"}
say "environment in $ENV_FILE (source it)"
