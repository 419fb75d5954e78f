# Test registration. Tiers are ctest labels:
#   unit         internal functions, links libdevsys.a (no services)
#   api          public API only, links libdevsys.so (no services)
#   integration  needs a real service the test starts (sshd, dockerd, a web server, Prism)
#   fuzz-replay  replays the fuzz corpora through the fuzz targets
#   slow         long runs, excluded from the README's test command
#
# Every Criterion binary is one ctest entry, run through
# tests/support/run_test.sh, which decides its verdict: skipped (exit 77,
# SKIP_RETURN_CODE) only when every test in it skipped; otherwise its exit
# code, its Criterion report and, in sanitizer builds, a sanitizer report in
# its output decide. A test that cannot run prints "skipped: <reason>"; with
# CI=true the support library and run_test.sh turn a skip into a failure.
# ctest's own SKIP_REGULAR_EXPRESSION and SKIP_RETURN_CODE win over the exit
# code and FAIL_REGULAR_EXPRESSION, so no entry uses a skip regex.

# Tests need Criterion: a build that means to test (BUILD_TESTING, as
# scripts/dev test and CI use) must not quietly end up with almost no tests.
# Library-only builds (-DBUILD_TESTING=OFF or -DDEVSYS_BUILD_TESTS=OFF) do
# not look for it.
if(DEVSYS_BUILD_TESTS AND BUILD_TESTING)
  pkg_check_modules(DEVSYS_CRITERION IMPORTED_TARGET criterion)
  if(NOT DEVSYS_CRITERION_FOUND)
    message(FATAL_ERROR "The test suite needs Criterion (pkg-config module 'criterion', "
      "Debian package libcriterion-dev): run scripts/bootstrap or apt-get install libcriterion-dev, "
      "or configure a library-only build with -DBUILD_TESTING=OFF.")
  endif()
endif()

# Root of the tests' temporary files ($DEVSYS_TEST_TMP). scripts/dev test sets
# a path of over 150 characters, so every run exercises a deep path
# (AF_UNIX sockets go to a short dt_sockdir() under /tmp instead).
set(DEVSYS_TEST_TMP "${PROJECT_BINARY_DIR}/test-tmp" CACHE PATH "Root of the tests' temporary files")

set(DEVSYS_RUN_TEST "${PROJECT_SOURCE_DIR}/tests/support/run_test.sh")

# Criterion runs each test in a forked worker and ignores how the worker
# exits, so a LeakSanitizer or ASan report alone would not fail a test. In
# sanitizer builds every test therefore fails when its output carries a
# sanitizer report (run_test.sh --sanitizer, and FAIL_REGULAR_EXPRESSION for
# entries that do not go through it); known third-party leaks are listed by
# function name in lsan.supp, and by exact stack in lsan-stacks.supp where the
# library is stripped and the function has no name to match. Allocation
# stacks come from ASan's fast (frame-pointer) unwinder, which our code (built
# with frame pointers) unwinds fully; a suite whose expected leak is matched
# in a library built without them (Debian's libgit2, whose pcre2 leak is named
# below its frames) adds DEVSYS_ASAN_SLOW_UNWIND to its environment: the slow
# unwinder makes every malloc several times dearer (store_pg: 27 s, not 10 s).
set(devsys_asan_options "detect_leaks=1:abort_on_error=0")
set(DEVSYS_ASAN_SLOW_UNWIND "ASAN_OPTIONS=${devsys_asan_options}:fast_unwind_on_malloc=0")
set(DEVSYS_SKIP_RETURN_CODE 77)
set(DEVSYS_SANITIZER_REPORTS "ERROR: LeakSanitizer;ERROR: AddressSanitizer;runtime error:")
set(DEVSYS_SANITIZER_ENV "")
set(DEVSYS_SANITIZER_FAIL "")
set(DEVSYS_RUN_TEST_ARGS "")
if(DEVSYS_SANITIZE)
  set(DEVSYS_SANITIZER_ENV
    "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/support/lsan.supp:print_suppressions=0"
    "ASAN_OPTIONS=${devsys_asan_options}"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  set(DEVSYS_SANITIZER_FAIL "${DEVSYS_SANITIZER_REPORTS}")
  string(REPLACE ";" "|" sanitizer_regex "${DEVSYS_SANITIZER_FAIL}")
  set(DEVSYS_RUN_TEST_ARGS --sanitizer "${sanitizer_regex}"
    --known-leaks "${PROJECT_SOURCE_DIR}/tests/support/lsan-stacks.supp")
endif()

# Apply the tier, timeout, skip and sanitizer properties every test shares.
# Exit code 77 means skipped; only run_test.sh (or a script that checks CI
# itself) exits 77, and never after a failure or a sanitizer report.
# devsys_test_properties(name labels timeout env [WRAPPED]): an entry that
# runs through run_test.sh leaves the sanitizer check to it (it knows the
# listed third-party leak stacks); others fail on FAIL_REGULAR_EXPRESSION.
function(devsys_test_properties name labels timeout env)
  set_tests_properties(${name} PROPERTIES
    LABELS "${labels}" TIMEOUT ${timeout}
    SKIP_RETURN_CODE ${DEVSYS_SKIP_RETURN_CODE}
    ENVIRONMENT "DEVSYS_TEST_TMP=${DEVSYS_TEST_TMP};${DEVSYS_SANITIZER_ENV};${env}")
  if(DEVSYS_SANITIZER_FAIL AND NOT "WRAPPED" IN_LIST ARGN)
    set_tests_properties(${name} PROPERTIES FAIL_REGULAR_EXPRESSION "${DEVSYS_SANITIZER_FAIL}")
  endif()
endfunction()

# devsys_add_test(NAME <suite> SOURCES <files> LABELS <tier...>
#                 [PUBLIC_ONLY] [TIMEOUT s] [PKG pkg-config-modules] [ENVIRONMENT K=V...])
# One executable per Criterion suite, one ctest entry per suite.
function(devsys_add_test)
  cmake_parse_arguments(T "PUBLIC_ONLY" "NAME;TIMEOUT" "SOURCES;LABELS;PKG;ENVIRONMENT;LIBS" ${ARGN})
  set(exe "test_${T_NAME}")
  add_executable(${exe} ${T_SOURCES})
  target_compile_definitions(${exe} PRIVATE _GNU_SOURCE
    DEVSYS_SOURCE_DIR="${PROJECT_SOURCE_DIR}" DEVSYS_BINARY_DIR="${PROJECT_BINARY_DIR}")
  target_include_directories(${exe} PRIVATE "${PROJECT_SOURCE_DIR}/tests/support" "${PROJECT_SOURCE_DIR}/lib")
  # Test code favours readability over -Wconversion casts; snprintf into
  # fixed buffers is deliberate there (-Wformat-truncation is gcc's alone).
  target_compile_options(${exe} PRIVATE -Wno-conversion $<$<C_COMPILER_ID:GNU>:-Wno-format-truncation>
    -Wno-missing-prototypes)
  if(T_PUBLIC_ONLY)
    target_link_libraries(${exe} PRIVATE devsys devsys_testsupport PkgConfig::DEVSYS_CRITERION)
  else()
    target_link_libraries(${exe} PRIVATE devsys_static devsys_testsupport PkgConfig::DEVSYS_CRITERION)
  endif()
  foreach(pkg IN LISTS T_PKG)
    devsys_pkg_prefix("${pkg}" prefix)
    if(NOT TARGET PkgConfig::${prefix})
      pkg_check_modules(${prefix} REQUIRED IMPORTED_TARGET GLOBAL "${pkg}")
    endif()
    target_link_libraries(${exe} PRIVATE PkgConfig::${prefix})
  endforeach()
  if(T_LIBS)
    target_link_libraries(${exe} PRIVATE ${T_LIBS})
  endif()
  # --jobs 1: suites already run in parallel under ctest -j; fixtures that
  # start services stay simple when a suite's tests run one at a time.
  add_test(NAME ${T_NAME} COMMAND "${DEVSYS_RUN_TEST}" --criterion ${DEVSYS_RUN_TEST_ARGS} -- $<TARGET_FILE:${exe}> --jobs 1 --full-stats)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  devsys_test_properties(${T_NAME} "${T_LABELS}" ${T_TIMEOUT} "${T_ENVIRONMENT}" WRAPPED)
endfunction()

# devsys_add_script_test(NAME <name> COMMAND <cmd...> LABELS <tier...> [TIMEOUT s])
# A script exits 0 (passed), 77 (skipped: it checks CI=true itself and fails
# instead) or anything else (failed).
function(devsys_add_script_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "COMMAND;LABELS;ENVIRONMENT" ${ARGN})
  add_test(NAME ${T_NAME} COMMAND "${DEVSYS_RUN_TEST}" ${DEVSYS_RUN_TEST_ARGS} -- ${T_COMMAND})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  devsys_test_properties(${T_NAME} "${T_LABELS}" ${T_TIMEOUT} "${T_ENVIRONMENT}" WRAPPED)
endfunction()
