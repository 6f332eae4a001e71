#!/usr/bin/env bash
# A real browser for the console's tests: headless Chromium and its WebDriver server
# from Debian's packages, on 127.0.0.1 only.
#
#   infra/chromium.sh install   apt-get install chromium chromium-driver if either is missing
#   infra/chromium.sh start     install if missing, start chromedriver, write infra/.webdriver.env
#                               (FERRY_WEBDRIVER_URL, read by the e2e suite's console tests)
#   infra/chromium.sh stop      stop the chromedriver this script started (always succeeds)
#
# Settings: FERRY_WEBDRIVER_PORT (default 9515).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${FERRY_WEBDRIVER_PORT:-9515}"
URL="http://127.0.0.1:${PORT}"
PID_FILE="$HERE/.chromedriver.pid"
LOG_FILE="$HERE/.chromedriver.log"
ENV_FILE="$HERE/.webdriver.env"

say() { echo "chromium.sh: $*" >&2; }

installed() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }

install() {
  if installed; then
    return 0
  fi
  say "installing chromium and chromium-driver (Debian packages)"
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  installed || { say "chromium or chromedriver is still missing after apt-get install"; return 1; }
  chromium --version >&2
}

answers() { curl -fsS -o /dev/null --max-time 2 "$URL/status" 2>/dev/null; }

our_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  grep -qa chromedriver "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  install
  if ! our_pid >/dev/null; then
    if answers; then
      say "something else already answers on $URL; set FERRY_WEBDRIVER_PORT"
      return 1
    fi
    chromedriver --port="$PORT" --allowed-ips=127.0.0.1 --allowed-origins=http://127.0.0.1 >"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
  fi
  for _ in $(seq 1 50); do
    answers && break
    sleep 0.2
  done
  answers || { say "chromedriver did not answer on $URL (log: $LOG_FILE)"; return 1; }
  echo "export FERRY_WEBDRIVER_URL=$URL" >"$ENV_FILE"
  say "chromedriver on $URL; environment in $ENV_FILE (source it)"
}

stop() {
  local pid
  if pid="$(our_pid)"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 25); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
  fi
  rm -f "$PID_FILE" "$ENV_FILE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 install|start|stop" >&2
    exit 2
    ;;
esac
