#!/usr/bin/env bash
# The bash completion of bcachefs-lite-ctl offers every verb the program's
# --help lists and, for each verb, every option its --help lists (so a new
# verb or option without completion fails here). bash-completion's helpers
# are replaced by small functions of its own: the test needs bash only.
#
# Usage: completion_test.sh CTL COMPLETION_FILE
set -u
ctl=$1
completion=$2

_init_completion() {
  cur=${COMP_WORDS[COMP_CWORD]}
  prev=${COMP_WORDS[COMP_CWORD - 1]}
  words=("${COMP_WORDS[@]}")
  cword=$COMP_CWORD
}
_filedir() { COMPREPLY=(FILES); }
complete() { :; }
# shellcheck source=/dev/null
. "$completion" || { echo "cannot source $completion"; exit 1; }

# Completes the words given (the last one is being typed).
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _bcachefs_lite_ctl
  printf '%s\n' "${COMPREPLY[@]}"
}

failures=0
expect_offered() {  # WORD, then the command line
  local want=$1; shift
  if ! complete_words "$@" | grep -qxF -- "$want"; then
    echo "FAIL: '$*' does not offer $want"
    failures=$((failures + 1))
  fi
}

verbs=$("$ctl" --help | sed -n '/^Subcommands:/,$p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$verbs" ] || { echo "FAIL: no verbs in $ctl --help"; exit 1; }
for verb in $verbs; do
  expect_offered "$verb" bcachefs-lite-ctl ""
  options=$("$ctl" "$verb" --help | grep -o -- '^  \(-h,\)\?--[a-z][a-z-]*' | sed 's/^  \(-h,\)\?//')
  for option in $options; do
    expect_offered "$option" bcachefs-lite-ctl "$verb" --
  done
done
expect_offered --version bcachefs-lite-ctl --
expect_offered random bcachefs-lite-ctl format --replacement ""
expect_offered FILES bcachefs-lite-ctl stats ""
expect_offered FILES bcachefs-lite-ctl stats --watch ""
expect_offered prune bcachefs-lite-ctl index ""

if [ $failures -ne 0 ]; then
  echo "$failures missing"
  exit 1
fi
echo "every verb and option completes: $(echo $verbs)"
