# Named, timed sections for the test scripts (sourced by infra/test.sh and
# infra/localstack/test.sh):
#   section "NAME"     ends the running section, prints "== NAME" and starts timing it
#   sections_report    ends the running section and prints each one's seconds; call it from
#                      the EXIT trap: a section still running there is marked FAILED when the
#                      exit status is not 0
# Bash only; uses SECONDS.

_SECTIONS=()
_SECTION_NAME=""
_SECTION_T0=$SECONDS
_SECTIONS_T0=$SECONDS

_section_end() {
  local mark="${1:-}"
  [[ -n "$_SECTION_NAME" ]] || return 0
  _SECTIONS+=("$(printf '%5ss  %s%s' "$((SECONDS - _SECTION_T0))" "$_SECTION_NAME" "$mark")")
  _SECTION_NAME=""
}

section() {
  _section_end
  _SECTION_NAME="$1"
  _SECTION_T0=$SECONDS
  echo "== $1"
}

sections_report() {
  local rc="${1:-0}" title="${2:-timings}"
  if ((rc)); then _section_end "  <- FAILED"; else _section_end; fi
  echo "== $title"
  ((${#_SECTIONS[@]})) && printf '%s\n' "${_SECTIONS[@]}"
  printf '%5ss  total\n' "$((SECONDS - _SECTIONS_T0))"
}
