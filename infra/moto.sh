#!/usr/bin/env bash
# Local AWS emulator for Ferry without Docker: moto's server mode on 127.0.0.1.
#
#   infra/moto.sh start   install moto into .venv-moto if missing, start it, create the
#                         resources template.yaml declares, write infra/.emulator.env
#   infra/moto.sh env     print infra/.emulator.env (`source infra/.emulator.env` or eval this)
#   infra/moto.sh reset   wipe all emulator state and create the resources again
#   infra/moto.sh stop    stop the server this script started (always succeeds)
#   infra/moto.sh install only install moto into the venv
#
# Settings: FERRY_MOTO_PORT (default 5000), FERRY_MOTO_NAME (a second instance's name,
# which names its pid, log and env files; default none), FERRY_STACK_NAME (default ferry-local),
# FERRY_MOTO_VENV (default <repo>/.venv-moto), FERRY_MOTO_SPEC (pip spec, default
# moto[server]==5.2.5), FERRY_TEMPLATE_PARAMS (template parameter overrides, e.g.
# "FunctionTimeout=60 MaxReceives=3").
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PORT="${FERRY_MOTO_PORT:-5000}"
STACK="${FERRY_STACK_NAME:-ferry-local}"
VENV="${FERRY_MOTO_VENV:-$ROOT/.venv-moto}"
ENDPOINT="http://127.0.0.1:${PORT}"
# A second emulator beside the first (e.g. a test shard of its own) gets a name, and
# with it files of its own: infra/.moto-NAME.pid, .moto-NAME.log, .emulator-NAME.env.
SUFFIX="${FERRY_MOTO_NAME:+-$FERRY_MOTO_NAME}"
PID_FILE="$HERE/.moto$SUFFIX.pid"
LOG_FILE="$HERE/.moto$SUFFIX.log"
ENV_FILE="$HERE/.emulator$SUFFIX.env"

export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true

say() { echo "moto.sh: $*" >&2; }

answers() { curl -fsS -o /dev/null --max-time 2 "$ENDPOINT/moto-api/" 2>/dev/null; }

our_pid() {
  # The pid in the file, if that process is still our moto_server (pids get reused).
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  grep -qa moto_server "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

install() {
  if [[ ! -x "$VENV/bin/moto_server" ]]; then
    say "installing moto[server] into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${FERRY_MOTO_SPEC:-moto[server]==5.2.5}"
  fi
}

create_resources() {
  local params=()
  for p in ${FERRY_TEMPLATE_PARAMS:-}; do params+=(--param "$p"); done
  "$VENV/bin/python" "$HERE/emulator_resources.py" --endpoint "$ENDPOINT" \
    --template "$ROOT/template.yaml" --stack-name "$STACK" --env-file "$ENV_FILE" \
    ${params[@]+"${params[@]}"}
}

start() {
  install
  if pid="$(our_pid)"; then
    if ! answers; then
      say "moto_server pid $pid (from $PID_FILE) does not answer on $ENDPOINT; run: $0 stop"
      exit 1
    fi
    say "already running (pid $pid) on $ENDPOINT"
  else
    if answers; then
      say "something else already answers on $ENDPOINT; stop it or set FERRY_MOTO_PORT"
      exit 1
    fi
    "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    local waited=0
    until answers; do
      if ! kill -0 "$pid" 2>/dev/null; then
        rm -f "$PID_FILE"
        say "moto_server exited; last log lines:"
        tail -n 5 "$LOG_FILE" >&2 || true
        exit 1
      fi
      if ((waited >= 300)); then
        say "moto_server did not answer within 30 s"
        stop
        exit 1
      fi
      sleep 0.1
      waited=$((waited + 1))
    done
    say "started pid $pid on $ENDPOINT (log: $LOG_FILE)"
  fi
  create_resources
  say "environment in $ENV_FILE (source it)"
}

stop() {
  local pid
  if pid="$(our_pid)"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    say "stopped pid $pid"
  fi
  rm -f "$PID_FILE"
  return 0
}

reset() {
  our_pid >/dev/null || { say "not running; use start"; exit 1; }
  curl -fsS -o /dev/null --max-time 10 -X POST "$ENDPOINT/moto-api/reset"
  create_resources
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env)
    [[ -f "$ENV_FILE" ]] || { say "no $ENV_FILE yet; run: infra/moto.sh start"; exit 1; }
    cat "$ENV_FILE"
    ;;
  reset) reset ;;
  *)
    echo "usage: $0 start|stop|env|reset|install" >&2
    exit 2
    ;;
esac
