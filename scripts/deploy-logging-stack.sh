#!/usr/bin/env bash
# deploy-logging-stack.sh — the entry point the ADR names, for teams migrating from it: a thin wrapper over the
# logstack CLI. It reads the environment catalog through the CLI (`logstack -o json validate`, the catalog of
# $LOGSTACK_CATALOG), then runs one logstack command:
#   - a promotion `logstack promote --from <previous stage> --to <env>` when the catalog's promotionOrder
#     promotes into <env> (it has a stage before it; --revision optional: default, the one verified there);
#   - else a rollout `logstack rollout <env> --revision R` (R required).
# Exit codes are the CLI's: 0 done (or started, without --wait), 1 failed, 2 usage, 3 rejected or approval timed
# out. Usage errors of this script exit 2 as well.
set -euo pipefail

readonly PROG=deploy-logging-stack.sh

usage() {
  cat <<'EOF'
Usage: scripts/deploy-logging-stack.sh --environment <env> [--revision <rev>] [--wait] [--print] [-- <logstack options>]

Deploys the logging stack to one environment of the catalog ($LOGSTACK_CATALOG, default
gitops/environments.yaml) through the logstack CLI:
  an environment the promotion order promotes into (staging, production, ...):
      logstack promote --from <previous stage> --to <env> [--revision <rev>] [--wait]
  the first stage, or one outside the promotion order:
      logstack rollout <env> --revision <rev> [--wait]

Options:
  -e, --environment <env>  environment name from the catalog (required)
  -r, --revision <rev>     Git commit, branch or tag (required for a rollout; for a promotion,
                           default: the revision verified in the previous stage)
  -w, --wait               follow the workflow until it ends (approval included)
      --print              print the logstack command instead of running it
  -h, --help               this help
  -- <options>             passed on to logstack (e.g. --task-queue q, --address host:port)

The CLI: $LOGSTACK_CLI (a command line, e.g. "logstack"), else this checkout's client/cli.ts run
by its pinned Node, else `logstack` on PATH. The CLI reads its usual variables (TEMPORAL_*,
LOGSTACK_TASK_QUEUE, LOGSTACK_USER for --requested-by, ...).
Exit codes: those of logstack: 0 done, 1 failed, 2 usage, 3 rejected or approval timed out.
EOF
}

usage_error() {
  printf '%s: %s\n(see %s --help)\n' "$PROG" "$1" "$PROG" >&2
  exit 2
}

environment=''
revision=''
wait=0
print=0
passthrough=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    -e | --environment)
      [ "$#" -ge 2 ] || usage_error "$1 needs a value"
      environment=$2
      shift 2
      ;;
    --environment=*)
      environment=${1#*=}
      shift
      ;;
    -r | --revision)
      [ "$#" -ge 2 ] || usage_error "$1 needs a value"
      revision=$2
      shift 2
      ;;
    --revision=*)
      revision=${1#*=}
      shift
      ;;
    -w | --wait)
      wait=1
      shift
      ;;
    --print)
      print=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      passthrough=("$@")
      break
      ;;
    *)
      usage_error "unknown argument: $1"
      ;;
  esac
done

[ -n "$environment" ] || usage_error '--environment <env> is required'
# An environment name is a DNS-1123 label, as the catalog requires.
if ! printf '%s' "$environment" | grep -Eq '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'; then
  usage_error "--environment \"$environment\" is not an environment name (lower-case letters, digits and -)"
fi
case "$revision" in
  -*) usage_error "--revision \"$revision\" may not start with -" ;;
esac

# The logstack CLI, as an array of words.
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname -- "$script_dir")
if [ -n "${LOGSTACK_CLI:-}" ]; then
  read -r -a cli <<<"$LOGSTACK_CLI"
elif [ -x "$repo/node_modules/.bin/node" ] && [ -f "$repo/client/cli.ts" ]; then
  cli=("$repo/node_modules/.bin/node" "$repo/client/cli.ts")
elif command -v logstack >/dev/null 2>&1; then
  cli=(logstack)
else
  printf '%s: no logstack CLI: run "npm ci" in %s, put logstack on PATH, or set LOGSTACK_CLI\n' "$PROG" "$repo" >&2
  exit 1
fi

# The catalog, as the CLI reads it: one JSON document listing the environments and the promotion order.
catalog_status=0
catalog=$("${cli[@]}" -o json validate 2>&1) || catalog_status=$?
if [ "$catalog_status" -ne 0 ]; then
  printf '%s: the catalog is not usable (logstack validate exit %s):\n%s\n' "$PROG" "$catalog_status" "$catalog" >&2
  exit "$catalog_status"
fi
flat=$(printf '%s' "$catalog" | tr -d ' \t\r\n')
# Names are DNS-1123 labels: no quote, comma or bracket inside a list item.
list_of() {
  printf '%s' "$flat" | sed -n "s/.*\"$1\":\[\([^]]*\)\].*/\1/p" | tr -d '"' | tr ',' ' '
}
environments=$(list_of environments)
order=$(list_of promotionOrder)

case " $environments " in
  *" $environment "*) ;;
  *) usage_error "unknown environment \"$environment\"; the catalog has: ${environments:-none}" ;;
esac

previous=''
last=''
for stage in $order; do
  if [ "$stage" = "$environment" ]; then
    previous=$last
    break
  fi
  last=$stage
done

if [ -n "$previous" ]; then
  command=(promote --from "$previous" --to "$environment")
  [ -z "$revision" ] || command+=(--revision "$revision")
  what="a promotion $previous → $environment"
else
  [ -n "$revision" ] || usage_error "$environment is not promoted into (promotion order: ${order:-none}): a rollout, which needs --revision <rev>"
  command=(rollout "$environment" --revision "$revision")
  what="a rollout of $environment"
fi
[ "$wait" -eq 0 ] || command+=(--wait)
command+=("${passthrough[@]}")

if [ "$print" -eq 1 ]; then
  printf 'logstack'
  printf ' %q' "${command[@]}"
  printf '\n'
  exit 0
fi
printf '%s: %s: logstack %s\n' "$PROG" "$what" "${command[*]}" >&2
exec "${cli[@]}" "${command[@]}"
