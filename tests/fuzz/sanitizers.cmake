# Sanitizer and fuzzing build modes, included by the top-level CMakeLists.txt before any library
# is defined so that every library is instrumented alike (docs/architecture.md, "Fuzzing and
# sanitizers").
#
# PORTICO_SANITIZE: the whole project with AddressSanitizer + UndefinedBehaviorSanitizer (g++ or
#   clang), in a build folder of its own; deploy/test.sh runs the unit and integration tests in it.
#   UBSan does not recover, so any finding ends the process with an error and fails the test.
# PORTICO_FUZZ: clang only; builds just the libraries the libFuzzer targets in tests/fuzz link, with
#   coverage instrumentation (fuzzer-no-link) + ASan + UBSan, and the targets themselves.

option(PORTICO_SANITIZE "Build everything with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(PORTICO_FUZZ "Build only the libFuzzer targets (tests/fuzz) and the libraries they link (clang)" OFF)

set(PORTICO_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

if(PORTICO_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "PORTICO_FUZZ needs clang (libFuzzer): configure with "
                        "-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link ${PORTICO_SANITIZER_FLAGS})
  add_link_options(${PORTICO_SANITIZER_FLAGS})
elseif(PORTICO_SANITIZE)
  # C++ only: the project's C in this mode is test fixtures (tests/unit/packager/fixture), whose
  # ELF dependencies the packager tests check, so they must not gain libasan and libubsan.
  # -O1 -g1 (after the build type's -O2 -g, so they win): the optimisation ASan's authors advise,
  # and line tables enough for stack traces. A cold build of this folder is part of CI's time, and
  # at -O2 -g the Beast-heavy files take over five minutes each under both sanitizers (vs ~3 at -O1).
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${PORTICO_SANITIZER_FLAGS};-O1;-g1>")
  add_link_options("$<$<LINK_LANGUAGE:CXX>:${PORTICO_SANITIZER_FLAGS}>")
endif()

if(PORTICO_FUZZ OR PORTICO_SANITIZE)
  # ctest reads this file before running any test of this build folder, so every test process
  # (and every broker, host or client an integration test starts) runs with these options unless
  # the caller set its own. halt_on_error: the first finding ends the process, non-zero.
  # Leak checking stays on: a leak found at exit fails the test like any other finding, except in
  # the third-party libraries named in lsan-suppressions.txt.
  set(PORTICO_LSAN_SUPPRESSIONS ${CMAKE_CURRENT_LIST_DIR}/lsan-suppressions.txt)
  file(WRITE ${CMAKE_BINARY_DIR}/sanitizer_env.cmake "set(PORTICO_LSAN_SUPPRESSIONS \"${PORTICO_LSAN_SUPPRESSIONS}\")\n")
  file(APPEND ${CMAKE_BINARY_DIR}/sanitizer_env.cmake [=[
if(NOT DEFINED ENV{ASAN_OPTIONS})
  set(ENV{ASAN_OPTIONS} "halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=0:strict_string_checks=1:check_initialization_order=1")
endif()
if(NOT DEFINED ENV{LSAN_OPTIONS})
  set(ENV{LSAN_OPTIONS} "suppressions=${PORTICO_LSAN_SUPPRESSIONS}:print_suppressions=0")
endif()
if(NOT DEFINED ENV{UBSAN_OPTIONS})
  set(ENV{UBSAN_OPTIONS} "halt_on_error=1:print_stacktrace=1")
endif()
]=])
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${CMAKE_BINARY_DIR}/sanitizer_env.cmake)
endif()
