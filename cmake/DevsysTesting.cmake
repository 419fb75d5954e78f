# Test registration. Tiers are ctest labels:
#   unit         internal functions, links libdevsys.a (no services)
#   api          public API only, links libdevsys.so (no services)
#   integration  needs a real service the test starts (sshd, dockerd, a web server, Prism)
#   fuzz-replay  replays the fuzz corpora through the fuzz targets
#   slow         long runs, excluded from the README's test command
# A test that cannot run prints "skipped: <reason>" and is counted skipped by
# ctest; with CI=true the support library turns that into a failure instead.

pkg_check_modules(DEVSYS_CRITERION IMPORTED_TARGET criterion)

# Criterion runs each test in a forked worker and ignores how the worker
# exits, so a LeakSanitizer or ASan report alone would not fail a test. In
# sanitizer builds every test therefore fails when its output carries a
# sanitizer report; known third-party leaks are listed in lsan.supp.
set(DEVSYS_SANITIZER_ENV "")
set(DEVSYS_SANITIZER_FAIL "")
if(DEVSYS_SANITIZE)
  set(DEVSYS_SANITIZER_ENV
    "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/support/lsan.supp:print_suppressions=0"
    "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:fast_unwind_on_malloc=0"
    "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  set(DEVSYS_SANITIZER_FAIL "ERROR: LeakSanitizer;ERROR: AddressSanitizer;runtime error:")
endif()

# Apply the tier, timeout, skip and sanitizer properties every test shares.
function(devsys_test_properties name labels timeout env)
  set_tests_properties(${name} PROPERTIES
    LABELS "${labels}" TIMEOUT ${timeout}
    SKIP_REGULAR_EXPRESSION "skipped: "
    ENVIRONMENT "DEVSYS_TEST_TMP=${PROJECT_BINARY_DIR}/test-tmp;${DEVSYS_SANITIZER_ENV};${env}")
  if(DEVSYS_SANITIZER_FAIL)
    set_tests_properties(${name} PROPERTIES FAIL_REGULAR_EXPRESSION "${DEVSYS_SANITIZER_FAIL}")
  endif()
endfunction()

# devsys_add_test(NAME <suite> SOURCES <files> LABELS <tier...>
#                 [PUBLIC_ONLY] [TIMEOUT s] [PKG pkg-config-modules] [ENVIRONMENT K=V...])
# One executable per Criterion suite, one ctest entry per suite.
function(devsys_add_test)
  cmake_parse_arguments(T "PUBLIC_ONLY" "NAME;TIMEOUT" "SOURCES;LABELS;PKG;ENVIRONMENT;LIBS" ${ARGN})
  if(NOT DEVSYS_CRITERION_FOUND)
    message(WARNING "Criterion not found: test ${T_NAME} not built (run scripts/bootstrap)")
    return()
  endif()
  set(exe "test_${T_NAME}")
  add_executable(${exe} ${T_SOURCES})
  target_compile_definitions(${exe} PRIVATE _GNU_SOURCE
    DEVSYS_SOURCE_DIR="${PROJECT_SOURCE_DIR}" DEVSYS_BINARY_DIR="${PROJECT_BINARY_DIR}")
  target_include_directories(${exe} PRIVATE "${PROJECT_SOURCE_DIR}/tests/support" "${PROJECT_SOURCE_DIR}/lib")
  # Test code favours readability over -Wconversion casts; snprintf into
  # fixed buffers is deliberate there.
  target_compile_options(${exe} PRIVATE -Wno-conversion -Wno-format-truncation -Wno-missing-prototypes)
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
  add_test(NAME ${T_NAME} COMMAND ${exe} --jobs 1 --full-stats)
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  devsys_test_properties(${T_NAME} "${T_LABELS}" ${T_TIMEOUT} "${T_ENVIRONMENT}")
endfunction()

# devsys_add_script_test(NAME <name> COMMAND <cmd...> LABELS <tier...> [TIMEOUT s])
function(devsys_add_script_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "COMMAND;LABELS;ENVIRONMENT" ${ARGN})
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  devsys_test_properties(${T_NAME} "${T_LABELS}" ${T_TIMEOUT} "${T_ENVIRONMENT}")
endfunction()
