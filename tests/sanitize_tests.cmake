# Sanitizer builds (-DASTROMM_SANITIZE=address,undefined; scripts/test.sh builds
# one in build-asan): every test registered so far runs with these options, so
# plain `ctest` in such a build applies them too.
#  - A report ends the process with exit code 86, which no test expects (some
#    expect 1 or 2, or just "non-zero"; 86 still fails those comparing codes).
#    scripts/test.sh also searches the tests' output for reports.
#  - Leaks are checked, except those made inside Open MPI and libconfig
#    (tests/lsan_suppressions.txt says why; suppressions need complete stacks,
#    hence the slow unwinder).
#  - UBSan stops at the first finding (-fno-sanitize-recover=all at compile time).
# GCC's UBSan runtime writes to stderr whatever log_path says, so reports stay
# on stderr for all three.
if(NOT ASTROMM_SANITIZE)
  return()
endif()
get_property(_tests DIRECTORY PROPERTY TESTS)
set_property(TEST ${_tests} APPEND PROPERTY ENVIRONMENT_MODIFICATION
  "ASAN_OPTIONS=set:exitcode=86:detect_leaks=1:fast_unwind_on_malloc=0"
  "LSAN_OPTIONS=set:exitcode=86:suppressions=${CMAKE_CURRENT_SOURCE_DIR}/lsan_suppressions.txt:print_suppressions=0"
  "UBSAN_OPTIONS=set:exitcode=86:print_stacktrace=1")
