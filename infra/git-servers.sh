#!/usr/bin/env bash
# Real Git servers on 127.0.0.1 for the source-control tests, both from Debian's `git`:
# `git daemon` (git://) and `git http-backend` (smart HTTP) behind infra/git_http.py.
#
#   infra/git-servers.sh start   start both unless running; write infra/.git-servers.env
#   infra/git-servers.sh stop    stop what this script started (always succeeds)
#
# Both serve the bare repositories under infra/.git-servers/repos (FERRY_GIT_ROOT), which the
# tests create and push to with the real `git`. Smart HTTP is also served over https
# (FERRY_GIT_HTTPS_URL), with the test certificate of 127.0.0.1 that the test CA signed
# (shared/connectors/tests/fixtures/tls; FERRY_GIT_CA_FILE). Repositories named private-*
# answer smart HTTP only with the token in FERRY_GIT_TOKEN's file (FERRY_GIT_TOKEN_FILE); a
# repository holding a file ferry-corrupt-pack answers fetches with a damaged pack.
# Settings: FERRY_GIT_DAEMON_PORT (default 9418), FERRY_GIT_HTTP_PORT (default 9419),
# FERRY_GIT_HTTPS_PORT (default 9420).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="$HERE/.git-servers"
ROOT="$DIR/repos"
TOKEN_FILE="$DIR/token"
DAEMON_PORT="${FERRY_GIT_DAEMON_PORT:-9418}"
HTTP_PORT="${FERRY_GIT_HTTP_PORT:-9419}"
HTTPS_PORT="${FERRY_GIT_HTTPS_PORT:-9420}"
TLS="$(cd "$HERE/.." && pwd)/shared/connectors/tests/fixtures/tls"
ENV_FILE="$HERE/.git-servers.env"

say() { echo "git-servers.sh: $*" >&2; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

answers_daemon() { git ls-remote "git://127.0.0.1:$DAEMON_PORT/probe.git" >/dev/null 2>&1; }
answers_http() { git ls-remote "http://127.0.0.1:$HTTP_PORT/probe.git" >/dev/null 2>&1; }
answers_https() {
  GIT_SSL_CAINFO="$TLS/ca.pem" git ls-remote "https://127.0.0.1:$HTTPS_PORT/probe.git" >/dev/null 2>&1
}

start() {
  command -v git >/dev/null || { say "git is not installed (apt-get install git)"; return 1; }
  mkdir -p "$ROOT"
  [[ -d "$ROOT/probe.git" ]] || git init -q --bare "$ROOT/probe.git"
  [[ -f "$TOKEN_FILE" ]] || head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$TOKEN_FILE"
  if ! alive "$DIR/daemon.pid"; then
    git daemon --base-path="$ROOT" --export-all --reuseaddr --listen=127.0.0.1 --port="$DAEMON_PORT" \
      --detach --pid-file="$DIR/daemon.pid" "$ROOT"
  fi
  if ! alive "$DIR/http.pid"; then
    python3 "$HERE/git_http.py" --root "$ROOT" --port "$HTTP_PORT" --token-file "$TOKEN_FILE" \
      --tls-port "$HTTPS_PORT" --cert "$TLS/server.pem" --key "$TLS/server.key" >"$DIR/http.log" 2>&1 &
    echo $! >"$DIR/http.pid"
  fi
  for _ in $(seq 1 50); do
    answers_daemon && answers_http && answers_https && break
    sleep 0.1
  done
  answers_daemon || { say "git daemon does not answer on port $DAEMON_PORT"; return 1; }
  answers_http || { say "the smart HTTP server does not answer on port $HTTP_PORT (see $DIR/http.log)"; return 1; }
  answers_https || { say "the smart HTTPS server does not answer on port $HTTPS_PORT (see $DIR/http.log)"; return 1; }
  cat >"$ENV_FILE" <<ENV
FERRY_GIT_ROOT=$ROOT
FERRY_GIT_DAEMON_URL=git://127.0.0.1:$DAEMON_PORT
FERRY_GIT_HTTP_URL=http://127.0.0.1:$HTTP_PORT
FERRY_GIT_HTTPS_URL=https://127.0.0.1:$HTTPS_PORT
FERRY_GIT_CA_FILE=$TLS/ca.pem
FERRY_GIT_TOKEN_FILE=$TOKEN_FILE
ENV
  say "git daemon on git://127.0.0.1:$DAEMON_PORT, smart HTTP on http://127.0.0.1:$HTTP_PORT and https://127.0.0.1:$HTTPS_PORT ($ENV_FILE)"
}

stop() {
  for f in "$DIR/daemon.pid" "$DIR/http.pid"; do
    if alive "$f"; then
      kill "$(cat "$f")" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  rm -f "$ENV_FILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
