#!/bin/sh
# Runs one libFuzzer target for a bounded time, as a meson test:
#
#     run_fuzzer.sh FUZZER SEEDS SCRATCH [DICT]
#
# libFuzzer writes the inputs it finds to the first corpus directory it is
# given, so that is SCRATCH (in the build directory) and the checked-in
# SEEDS are only read. A crashing input is kept in SCRATCH/artifacts.
# BCL_FUZZ_SECONDS (default 10) is how long the run lasts.
set -eu
[ $# -ge 3 ] || { echo "usage: $0 FUZZER SEEDS SCRATCH [DICT]" >&2; exit 2; }
fuzzer=$1 seeds=$2 scratch=$3 dict=${4:-}
seconds=${BCL_FUZZ_SECONDS:-10}
case $seconds in
  ''|*[!0-9]*) seconds=0 ;;
esac
# 0 would mean "no limit" to libFuzzer.
[ "$seconds" -gt 0 ] || { echo "$0: BCL_FUZZ_SECONDS must be a whole number of seconds, 1 or more" >&2; exit 2; }
mkdir -p "$scratch/corpus" "$scratch/artifacts"
# libFuzzer exits with 77 on a finding by default, which meson reads as a
# skipped test.
set -- -max_total_time="$seconds" -timeout=30 -error_exitcode=1 -timeout_exitcode=1 \
  -print_final_stats=1 -artifact_prefix="$scratch/artifacts/"
[ -z "$dict" ] || set -- "$@" -dict="$dict"
exec "$fuzzer" "$@" "$scratch/corpus" "$seeds"
