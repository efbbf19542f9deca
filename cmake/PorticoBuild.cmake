# How Portico is compiled quickly (issue 13; figures in bench/results/build.json, measured by
# bench/build/cold_build.sh). What a cold build spent its time on, and the means set up here:
#
# 1. Debug information: full -g is about half of every file's compile time; RelWithDebInfo builds
#    line tables only (-g1, below) unless PORTICO_DEBUG_INFO=full.
# 2. Catch2's implementation (CATCH_CONFIG_MAIN) compiled in every unit suite's main.cpp: now once,
#    in portico_catch_main (tests/catch_main.cpp).
# 3. Asio, Asio SSL and Beast compiled separately: portico_boost_impl (common/boost_impl.cpp) holds
#    their non-template code once, and its PUBLIC definitions BOOST_ASIO_SEPARATE_COMPILATION and
#    BOOST_BEAST_SEPARATE_COMPILATION reach every target that links portico_common, so all of them
#    agree (a file compiled without them would define the same functions inline: an ODR violation).
# 4. Shared precompiled headers, applied by portico_precompile_headers() at the end of the top-level
#    CMakeLists.txt to every C++ target by what it links, each reusing one PCH whose compile flags
#    match its own:
#      portico_pch_test       test executables: Catch2 + std (saves ~1 s per test file)
#      portico_pch_net        with PORTICO_PCH_NET, targets linking portico_common: Beast, Asio, JSON
#      portico_pch_test_net   with PORTICO_PCH_NET, test executables linking portico_common: both
#    PORTICO_PCH_NET is off: forced into every file, the 280 MB Beast/Asio PCH made the many small
#    files 1-2 s slower (loading it) and did not speed up the JSON-heavy ones; the Beast-heavy files'
#    time is template instantiation and code generation, which a PCH does not save.
# 5. ccache, when present, with the settings precompiled headers need (pch_defines, time_macros,
#    -fpch-preprocess), so a warm rebuild still hits.
# 6. Test code at -Og (PORTICO_TEST_OPTIMIZE): the Catch2 suites, their helpers and the test PCH,
#    never the libraries under test, which keep the build type's -O2. Test files are a third of a
#    cold build, and half of a Beast-heavy test file's time is the optimiser (display_server_test:
#    43.6 s at -O2, 26.4 s at -Og); -O0 would be no faster, since a PCH built with optimisation
#    does not fit it. Applied by portico_optimize_tests(), before the PCHs are assigned.
# 7. The Beast-heavy files of one target compiled as one translation unit (portico_unity_group):
#    each instantiated the same TLS stream, WebSocket and HTTP templates on its own. The broker's
#    three sessions: 139 s apart, 89 s together. Off with PORTICO_UNITY=OFF (to check that each
#    file includes what it uses).
# 8. Linking with LLVM's lld (Debian's lld, from deploy/install-deps.sh) when the compiler accepts it:
#    GNU ld spends ~3 s on each Beast-heavy test executable, lld under 1 s (unit_client: 3.97 s ->
#    0.79 s wall), and a build links about fifteen. PORTICO_LINKER picks another (gold, bfd) or the
#    compiler's default (empty).
# 9. Test files four to a translation unit (portico_unity_tests): each small test file spent
#    seconds parsing the same project, JSON and Beast headers that the PCH does not hold.
# -Winvalid-pch makes a PCH that does not fit a target's flags a visible warning instead of a silent
# slow build. PORTICO_PCH=OFF turns the precompiled headers off (e.g. to check include hygiene).

option(PORTICO_PCH "Compile with shared precompiled headers (Catch2 for the tests; PORTICO_PCH_NET adds Beast/Asio)" ON)
option(PORTICO_PCH_NET "Also precompile Beast/Asio/JSON for every target linking portico_common" OFF)
option(PORTICO_UNITY "Compile each target's Beast-heavy files as one translation unit (portico_unity_group)" ON)
set(PORTICO_TEST_OPTIMIZE "-Og" CACHE STRING "Optimisation of test code (not of the libraries under test); empty = the build type's")

# Debug information: line tables (-g1) by default. Measured on single files (bench/results/build.json):
# full -g is half of the compile time of a file (protocol/control.cpp 13.3 s -> 6.8 s CPU at -g1), and
# -g1 keeps what crash reports and sanitizers print (file:line of every frame); locals and types
# (gdb `print`) need PORTICO_DEBUG_INFO=full. The ASan build uses -g1 already.
set(PORTICO_DEBUG_INFO "lines" CACHE STRING "RelWithDebInfo debug information: lines (-g1) or full (-g)")
set_property(CACHE PORTICO_DEBUG_INFO PROPERTY STRINGS lines full)
if(PORTICO_DEBUG_INFO STREQUAL "lines")
  foreach(lang C CXX)
    string(REGEX REPLACE "(^| )-g( |$)" "\\1-g1\\2" CMAKE_${lang}_FLAGS_RELWITHDEBINFO "${CMAKE_${lang}_FLAGS_RELWITHDEBINFO}")
  endforeach()
endif()

set(PORTICO_LINKER "lld" CACHE STRING "Linker passed as -fuse-ld= (lld, gold, bfd); empty = the compiler's default")
if(PORTICO_LINKER)
  include(CheckLinkerFlag)
  check_linker_flag(CXX "-fuse-ld=${PORTICO_LINKER}" PORTICO_LINKER_WORKS)
  if(PORTICO_LINKER_WORKS)
    add_link_options("-fuse-ld=${PORTICO_LINKER}")
  else()
    message(STATUS "Linker ${PORTICO_LINKER} not usable: linking with the compiler's default (slower)")
  endif()
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  # ccache hashes a PCH's defines and __TIME__ only when told these may be ignored; without them
  # every file that uses a PCH is a miss (ccache manual, "Precompiled headers").
  set(launcher ${CMAKE_COMMAND} -E env CCACHE_SLOPPINESS=pch_defines,time_macros
               ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${launcher})
  set(CMAKE_C_COMPILER_LAUNCHER ${launcher})
  if(PORTICO_PCH AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fpch-preprocess>)
  endif()
endif()
if(PORTICO_PCH)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Winvalid-pch>)
endif()

set(PORTICO_PCH_NET_HEADERS
  <algorithm> <chrono> <cstdint> <functional> <map> <memory> <mutex> <optional> <string> <string_view>
  <unordered_map> <vector>
  <nlohmann/json.hpp>
  <boost/asio/io_context.hpp> <boost/asio/ip/tcp.hpp> <boost/asio/post.hpp> <boost/asio/steady_timer.hpp>
  <boost/asio/strand.hpp> <boost/asio/ssl.hpp>
  <boost/beast/core.hpp> <boost/beast/http.hpp> <boost/beast/ssl.hpp> <boost/beast/websocket.hpp>
  <boost/beast/websocket/ssl.hpp>)
set(PORTICO_PCH_TEST_HEADERS <algorithm> <chrono> <cstdint> <functional> <memory> <string> <vector>
                             <catch2/catch.hpp>)

# Every target (recursively) defined in `dir` and its subdirectories, into `out`.
function(portico_targets_in out dir)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    portico_targets_in(sub_targets ${sub})
    list(APPEND targets ${sub_targets})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

# TRUE in `out` when `target` links `wanted`, directly or through other targets.
function(portico_links out target wanted)
  set(seen "")
  set(todo ${target})
  while(todo)
    list(POP_FRONT todo t)
    if(t STREQUAL wanted)
      set(${out} TRUE PARENT_SCOPE)
      return()
    endif()
    if(NOT TARGET ${t} OR t IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${t})
    get_target_property(type ${t} TYPE)
    set(libs "")
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(direct ${t} LINK_LIBRARIES)
      if(direct)
        list(APPEND libs ${direct})
      endif()
    endif()
    get_target_property(iface ${t} INTERFACE_LINK_LIBRARIES)
    if(iface)
      list(APPEND libs ${iface})
    endif()
    foreach(lib IN LISTS libs)
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" lib "${lib}")
      # By name too: an imported target (Catch2::Catch2) is visible only in its own directory.
      if(lib STREQUAL wanted)
        set(${out} TRUE PARENT_SCOPE)
        return()
      endif()
      list(APPEND todo ${lib})
    endforeach()
  endwhile()
  set(${out} FALSE PARENT_SCOPE)
endfunction()

# A static library whose only job is to own one PCH, compiled with the flags of what it links.
function(portico_pch_owner name headers)
  set(src ${CMAKE_BINARY_DIR}/pch/${name}.cpp)
  file(GENERATE OUTPUT ${src} CONTENT "// Owner of the shared precompiled header ${name} (cmake/PorticoBuild.cmake).\n")
  add_library(${name} STATIC EXCLUDE_FROM_ALL ${src})
  target_link_libraries(${name} PRIVATE ${ARGN})
  if("Catch2::Catch2" IN_LIST ARGN AND PORTICO_TEST_OPTIMIZE)
    target_compile_options(${name} PRIVATE ${PORTICO_TEST_OPTIMIZE})  # as the tests that reuse it
  endif()
  target_precompile_headers(${name} PRIVATE ${headers})
endfunction()

# Gives every C++ target defined under the source tree the shared PCH that matches what it links.
# Called once, after every add_subdirectory().
function(portico_precompile_headers)
  if(NOT PORTICO_PCH)
    return()
  endif()
  portico_targets_in(all ${CMAKE_SOURCE_DIR})
  find_package(Catch2 QUIET)  # here too, for the test PCH owners (tests/ found it in its own scope)
  get_property(common_options DIRECTORY ${CMAKE_SOURCE_DIR} PROPERTY COMPILE_OPTIONS)
  foreach(t IN LISTS all)
    get_target_property(type ${t} TYPE)
    if(NOT type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY)$")
      continue()
    endif()
    get_target_property(sources ${t} SOURCES)
    list(FILTER sources INCLUDE REGEX "\\.(cpp|cc|cxx)$")
    get_target_property(own_options ${t} COMPILE_OPTIONS)
    if(PORTICO_TEST_OPTIMIZE)
      list(REMOVE_ITEM own_options ${PORTICO_TEST_OPTIMIZE})  # the test PCH is built with it too
    endif()
    if(NOT sources OR t MATCHES "^portico_pch_" OR NOT own_options STREQUAL common_options)
      continue()  # nothing to compile, a PCH owner, or flags of its own (fuzz targets) no PCH fits
    endif()
    portico_links(net ${t} portico_common)
    portico_links(test ${t} Catch2::Catch2)
    if(net AND test AND PORTICO_PCH_NET)
      set(owner portico_pch_test_net)
    elseif(test)
      set(owner portico_pch_test)
    elseif(net AND PORTICO_PCH_NET)
      set(owner portico_pch_net)
    else()
      continue()
    endif()
    if(NOT TARGET ${owner})
      if(owner STREQUAL "portico_pch_net")
        portico_pch_owner(${owner} "${PORTICO_PCH_NET_HEADERS}" portico_common)
      elseif(owner STREQUAL "portico_pch_test_net")
        portico_pch_owner(${owner} "${PORTICO_PCH_NET_HEADERS};${PORTICO_PCH_TEST_HEADERS}" portico_common
                          Catch2::Catch2)
      else()
        portico_pch_owner(${owner} "${PORTICO_PCH_TEST_HEADERS}" Catch2::Catch2)
      endif()
    endif()
    target_precompile_headers(${t} REUSE_FROM ${owner})
  endforeach()
endfunction()

# Compiles the test code of every C++ target linking Catch2 (the suites, portico_catch_main) at
# PORTICO_TEST_OPTIMIZE (means 6 above). Called once, after every add_subdirectory() and before
# portico_precompile_headers().
function(portico_optimize_tests)
  if(NOT PORTICO_TEST_OPTIMIZE)
    return()
  endif()
  portico_targets_in(all ${CMAKE_SOURCE_DIR})
  foreach(t IN LISTS all)
    get_target_property(type ${t} TYPE)
    if(NOT type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|SHARED_LIBRARY|OBJECT_LIBRARY)$")
      continue()
    endif()
    portico_links(test ${t} Catch2::Catch2)
    if(test)
      target_compile_options(${t} PRIVATE ${PORTICO_TEST_OPTIMIZE})
      if(type STREQUAL "EXECUTABLE")
        portico_unity_tests(${t})
      endif()
    endif()
  endforeach()
endfunction()

# Compiles a test executable's files four to a translation unit (means 9 above), apart from those
# already in a portico_unity_group. A suite whose files clash when compiled together (file-scope
# using-directives that make a name ambiguous in the next file) opts out with
# set_target_properties(<suite> PROPERTIES PORTICO_TEST_UNITY OFF).
function(portico_unity_tests t)
  get_target_property(opt ${t} PORTICO_TEST_UNITY)
  if(NOT PORTICO_UNITY OR opt STREQUAL "OFF")
    return()
  endif()
  get_target_property(dir ${t} SOURCE_DIR)
  get_target_property(sources ${t} SOURCES)
  set_target_properties(${t} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
  set(n 0)
  foreach(s IN LISTS sources)
    if(NOT s MATCHES "\\.(cpp|cc|cxx)$")
      continue()
    endif()
    # Relative paths would be taken from this (the top-level) directory, not the suite's.
    cmake_path(ABSOLUTE_PATH s BASE_DIRECTORY ${dir})
    get_source_file_property(group ${s} DIRECTORY ${dir} UNITY_GROUP)
    if(NOT group)
      math(EXPR batch "${n} / 4")
      set_source_files_properties(${s} DIRECTORY ${dir} PROPERTIES UNITY_GROUP ${t}_tests${batch})
      math(EXPR n "${n} + 1")
    endif()
  endforeach()
endfunction()

# Compiles the given sources of `target` (from the calling directory) as one translation unit
# (means 7 above); its other sources stay one unit each.
function(portico_unity_group target)
  if(NOT PORTICO_UNITY)
    return()
  endif()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
  set_source_files_properties(${ARGN} PROPERTIES UNITY_GROUP ${target}_net)
endfunction()
