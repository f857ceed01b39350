#!/usr/bin/env bash
# Moves the tree's bulky test data out of the repository for the device's part calls and back
# (docs/gpu.md): each call carries the working tree plus its part, at most 64 MiB, so the tree
# must stay small while the parts go; the suite's call needs the data back.
#
#   scripts/gpu/slim.sh out    # before the part calls
#   scripts/gpu/slim.sh in     # before the run call (the suite reads these)
#
# While out, the moved tracked files are marked skip-worktree, so a `git commit -a` made in
# between records no deletion (the twenty-fifth session's docs commit deleted all 823 of them);
# `in` clears the mark.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
stash=${NOS_SLIM_STASH:-/tmp/nos-slim}
paths="benchmarks/logs models/aoti/digits-cpu-portable.pt2 models/whisper-micro
  nos-hub/src/test/resources/ai/nos/hub/audio nos-hub/src/test/resources/ai/nos/hub/parity"
case "${1:-}" in
  out)
    for p in $paths; do
      [ -e "$p" ] || continue
      git ls-files -z -- "$p" | xargs -0 -r git update-index --skip-worktree --
      mkdir -p "$stash/$(dirname "$p")" && mv "$p" "$stash/$p"
    done ;;
  in)
    for p in $paths; do
      [ -e "$stash/$p" ] || continue
      [ ! -e "$p" ] || { echo "slim: $p is back already; $stash/$p left as it is" >&2; continue; }
      mv "$stash/$p" "$p"
      git ls-files -z -- "$p" | xargs -0 -r git update-index --no-skip-worktree --
    done
    git status --short -- $paths | head -5 ;;
  *) echo "usage: $0 out|in" >&2; exit 2 ;;
esac
echo "slim: tree $(du -sh --exclude=.git --exclude=.gpu --exclude=target . | cut -f1)"
