#!/usr/bin/env bash
# A real Redmine 5 (Debian packages) on 127.0.0.1 for Ferry's Redmine e2e tests.
#
#   infra/redmine.sh start   install if missing, start, seed, write infra/.redmine.env
#   infra/redmine.sh stop    stop the server started here (always succeeds)
#   infra/redmine.sh env     print infra/.redmine.env
#
# Port: FERRY_REDMINE_PORT (default 3000). Seeding is idempotent: users alice, bob,
# carol (Developer) and ferry-bot (admin, the integration user), all @acme.test with
# API keys; trackers Bug and Task; an `External ID` string issue custom field usable
# as a filter; projects `app` and `ops` (empty). Tests create their own projects.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
port="${FERRY_REDMINE_PORT:-3000}"
pid_file="$here/.redmine.pid"
env_file="$here/.redmine.env"
log_file="$here/.redmine.log"
rm_dir=/usr/share/redmine
packages=(redmine redmine-sqlite ruby-webrick)

# Redmine's bundle has no application server but WEBrick, which Ruby 3 no longer loads by
# itself: the server and `rails runner` get it through RUBYOPT. Only they do: the
# packages' post-install scripts run `rake` under Bundler, where `-rwebrick` is not in
# the bundle ("cannot load such file -- webrick"), which would leave them half-configured.
rails() {
    (cd "$rm_dir" && env RAILS_ENV=production RUBYOPT=-rwebrick bin/rails "$@")
}

# Whether every package is installed and configured ("install ok installed"); a package
# whose post-install failed stays "half-configured".
installed() {
    local p status
    for p in "${packages[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" || return 1
        [ "$status" = "install ok installed" ] || return 1
    done
    [ -x "$rm_dir/bin/rails" ]
}

install() {
    if installed; then
        return
    fi
    # A clean environment for apt and the maintainer scripts: nothing of the caller's
    # Ruby or Bundler settings may reach the post-install's rake.
    local clean=(env -u RUBYOPT -u RUBYLIB -u BUNDLE_GEMFILE -u GEM_HOME -u GEM_PATH
        -u RAILS_ENV DEBIAN_FRONTEND=noninteractive)
    # Repair what an interrupted or failed earlier install left half-configured.
    if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
        echo "redmine: finishing the configuration of a half-installed package (dpkg --configure -a)" >&2
        "${clean[@]}" dpkg --configure -a
    fi
    if ! installed; then
        echo "redmine: installing the Debian packages ${packages[*]}" >&2
        "${clean[@]}" apt-get update -q
        "${clean[@]}" apt-get install -y -q "${packages[@]}"
    fi
    if ! installed; then
        echo "redmine: the packages are not fully configured after the install:" >&2
        dpkg -l "${packages[@]}" >&2 || true
        exit 1
    fi
}

# Parallel tests write concurrently: wait for SQLite's lock instead of failing with
# "database is locked", and let readers run beside a writer (WAL).
tune_sqlite() {
    local yml=/etc/redmine/default/database.yml
    if [ -f "$yml" ] && ! grep -q '^  timeout:' "$yml"; then
        sed -i 's/^  adapter: sqlite3$/  adapter: sqlite3\n  timeout: 15000/' "$yml"
    fi
}

running() {
    [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

seed() {
    # One rails runner: prints KEY=VALUE lines for the env file.
    (rails runner - <<'RUBY'
Setting.rest_api_enabled = '1'
ActiveRecord::Base.connection.execute('PRAGMA journal_mode=WAL') if ActiveRecord::Base.connection.adapter_name =~ /sqlite/i
Setting.login_required = '0'
admin = User.find_by_login('admin')
bug = Tracker.find_by_name('Bug') or raise 'tracker Bug missing: the Debian default data was not loaded'
task = Tracker.find_by_name('Task')
unless task
  task = Tracker.new(name: 'Task', default_status: bug.default_status)
  task.core_fields = bug.core_fields
  task.save!
  task.copy_workflow_rules(bug)
end
cf = IssueCustomField.find_by_name('External ID') || IssueCustomField.new(name: 'External ID', field_format: 'string')
cf.is_for_all = true
cf.is_filter = true
cf.searchable = true
cf.visible = true
cf.trackers = [bug, task]
cf.save!
developer = Role.find_by_name('Developer') or raise 'role Developer missing'
manager = Role.find_by_name('Manager') or raise 'role Manager missing'
out = { 'FERRY_REDMINE_ADMIN_KEY' => admin.api_key }
users = {}
[%w[alice Alice Archer], %w[bob Bob Baker], %w[carol Carol Carter], %w[ferry-bot Ferry Bot]].each do |login, first, last|
  u = User.find_by_login(login) || User.new
  u.login = login
  u.firstname = first
  u.lastname = last
  u.mail = "#{login}@acme.test"
  u.admin = (login == 'ferry-bot')
  u.status = User::STATUS_ACTIVE
  if u.new_record?
    pw = SecureRandom.hex(12)
    u.password = pw
    u.password_confirmation = pw
  end
  u.save!
  users[login] = u
  out["FERRY_REDMINE_KEY_#{login.upcase.tr('-', '_')}"] = u.api_key
  out["FERRY_REDMINE_USER_#{login.upcase.tr('-', '_')}"] = u.id
end
%w[app ops].each do |ident|
  p = Project.find_by_identifier(ident) || Project.new(identifier: ident, name: ident.capitalize)
  p.trackers = [bug, task]
  p.enabled_module_names = %w[issue_tracking]
  p.save!
  users.each do |login, u|
    next if Member.where(project_id: p.id, user_id: u.id).exists?
    Member.create!(project: p, principal: u, roles: [login == 'ferry-bot' ? manager : developer])
  end
end
out['FERRY_REDMINE_CF_EXTERNAL_ID'] = cf.id
out['FERRY_REDMINE_TRACKER_BUG'] = bug.id
out['FERRY_REDMINE_TRACKER_TASK'] = task.id
out['FERRY_REDMINE_ROLE_DEVELOPER'] = developer.id
out['FERRY_REDMINE_ROLE_MANAGER'] = manager.id
out.each { |k, v| puts "#{k}=#{v}" }
RUBY
    ) | grep '^FERRY_REDMINE_'
}

start() {
    install
    tune_sqlite
    if ! running; then
        rm -f "$rm_dir/tmp/pids/server.pid" 2>/dev/null || true
        (cd "$rm_dir" && RAILS_ENV=production RUBYOPT=-rwebrick exec setsid bin/rails server -u webrick \
            -b 127.0.0.1 -p "$port" -P "$here/.redmine.rails.pid") >"$log_file" 2>&1 &
        echo $! >"$pid_file"
    fi
    local url="http://127.0.0.1:$port"
    for _ in $(seq 1 120); do
        if curl -fsS -o /dev/null "$url/" 2>/dev/null; then break; fi
        if ! running; then
            echo "redmine: the server exited; last lines of $log_file:" >&2
            tail -20 "$log_file" >&2
            exit 1
        fi
        sleep 0.5
    done
    curl -fsS -o /dev/null "$url/" || { echo "redmine: not answering on $url" >&2; exit 1; }
    local lines
    lines="$(seed)"
    {
        echo "# Written by infra/redmine.sh start; secrets of a throwaway local test server."
        echo "FERRY_REDMINE_URL=$url"
        echo "$lines"
    } >"$env_file"
    # The setting is cached per process: check the API really answers with a key.
    local key
    key="$(grep '^FERRY_REDMINE_KEY_FERRY_BOT=' "$env_file" | cut -d= -f2)"
    for _ in $(seq 1 20); do
        if curl -fsS -o /dev/null -H "X-Redmine-API-Key: $key" "$url/my/account.json"; then
            echo "redmine: up on $url (env in $env_file)"
            return
        fi
        sleep 0.5
    done
    echo "redmine: REST API does not answer on $url/my/account.json" >&2
    exit 1
}

stop() {
    if running; then
        local pid
        pid="$(cat "$pid_file")"
        kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -9 -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file" "$here/.redmine.rails.pid"
    echo "redmine: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) cat "$env_file" ;;
    *)
        echo "usage: $0 start|stop|env" >&2
        exit 2
        ;;
esac
