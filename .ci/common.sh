# Shared by the .ci/ scripts (sourced, not run).

# A visible heading per step, with the seconds since the script started.
step() {
  echo
  echo "=== $* ($SECONDS s)"
}

# pytest, where exit code 5 ("no tests collected") is a failure with a clear message: every
# selection CI makes must hold tests, so an empty one means a packaging or selection mistake.
run_pytest() {
  local rc=0
  "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "error: pytest collected no tests: $*" >&2
    return 1
  fi
  return "$rc"
}
