# Sourced by the walkthroughs (README.md, docs/api.md): where the server is,
# and `call`, which prints an answer's body and fails, saying what came
# back, unless the answer's status is the one expected. A walkthrough run
# with `set -e` stops at the first surprise instead of carrying an error
# body on as an id.
API=${API:-http://127.0.0.1:8787}
JSON='Content-Type: application/json'

# call STATUS METHOD PATH [curl options...]
call() {
  local want=$1 method=$2 path=$3 out status
  shift 3
  out=$(curl -sS -X "$method" -w '%{http_code}' "$@" "$API$path") || return
  status=${out: -3}
  out=${out%???}
  out=${out%$'\n'}
  if [ "$status" != "$want" ]; then
    printf '%s %s: expected %s, got %s: %s\n' "$method" "$path" "$want" "$status" "$out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}
