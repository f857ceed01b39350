# Sourced by the *-ab.sh scripts: builds one commit's NOS jars in a temporary git worktree and
# this checkout's in place (installed, as first-result.sh does), with the benchmarks' dependency
# jars shared by both, so that two builds can be run side by side on the same class path but
# NOS's own jars.
#   ab_builds <commit before>   sets CP_BEFORE and CP_AFTER (class paths), AB_BEFORE and
#                               AB_AFTER (what they were built from) and AB_WORK (a temp folder
#                               removed at exit)
#   ab_env <file>               writes the machine, the JVM and AB_BEFORE/AB_AFTER there
ab_jars() { # the NOS module jars of the checkout in $1, built there
  (cd "$1" && mvn -B -q -o -pl benchmarks -am -Pdjl-bench -DskipTests package >/dev/null)
  ls "$1"/nos-core/target/nos-core-*.jar "$1"/nos-hub/target/nos-hub-*.jar \
    "$1"/nos-optim/target/nos-optim-*.jar "$1"/benchmarks/target/nos-benchmarks-*.jar \
    | grep -v -- '-\(sources\|javadoc\|tests\)\.jar$' | paste -sd:
}

ab_builds() {
  # Resolved now: a commit made while the runs go on must not change what the env file says.
  AB_BEFORE=$(git rev-parse "$1")
  AB_AFTER="$(git rev-parse HEAD) $(git status --short | wc -l) changed file(s)"
  AB_WORK=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "git worktree remove --force '$AB_WORK/before' >/dev/null 2>&1 || true; rm -rf '$AB_WORK'" EXIT
  git worktree add -q --detach "$AB_WORK/before" "$AB_BEFORE"
  mvn -B -q -o -pl benchmarks -am -Pdjl-bench -DskipTests install
  mvn -B -q -o -pl benchmarks -Pdjl-bench dependency:build-classpath \
    -Dmdep.outputFile="$AB_WORK/classpath.txt" >/dev/null
  local deps
  deps=$(tr ':' '\n' < "$AB_WORK/classpath.txt" | grep -v '/ai/nos/' | paste -sd:)
  CP_BEFORE=$(ab_jars "$AB_WORK/before"):$deps
  CP_AFTER=$(ab_jars "$PWD"):$deps
}

ab_env() { # $1: file; after ab_builds
  { uname -a; nproc; java -version 2>&1; echo "before $AB_BEFORE"; echo "after $AB_AFTER";
    date -Is; uptime; } > "$1"
}
