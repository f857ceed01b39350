#!/usr/bin/env bash
# Runs one bench.sh mode once per nos-core jar, in order, each into its own folder under $OUT:
# an A/B of a nos-core change in one lease (the twenty-eighth session's way; docs/status.md).
#
#   AB_JARS="new= old=$PWD/.gpu/base/nos-core-base.jar" bash /root/gpu/scripts/gpu/ab.sh callers 2
#
# AB_JARS is a space-separated list of NAME=JAR; an empty JAR is the packed nos-core. Carry the
# other jars in .gpu/base (beside .gpu/run: the run tool copies the checkout, so $PWD/.gpu/base
# is there). Alternate the order between calls to spread drift (old first, then new first).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp}
[ -n "${AB_JARS:-}" ] || { echo "ab.sh: set AB_JARS (NAME=JAR ...)" >&2; exit 2; }
for pair in $AB_JARS; do
  name=${pair%%=*}
  jar=${pair#*=}
  [ -z "$jar" ] || [ -f "$jar" ] || { echo "ab.sh: $name: no jar at $jar" >&2; exit 2; }
  mkdir -p "$out/$name"
  echo "== ab.sh: $name (${jar:-the packed nos-core})"
  OUT="$out/$name" NOS_CORE_JAR="$jar" bash "$here/bench.sh" "$@"
done
