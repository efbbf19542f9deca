# Run by the check_labels test: fails when a test in BUILD_DIR carries none of the labels that
# match LABELS (a regex), listing those tests. Also fails when the build has no tests to look at,
# so the check cannot pass by looking in the wrong place.
foreach(var CTEST BUILD_DIR LABELS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_labels.cmake needs -D ${var}=...")
  endif()
endforeach()

execute_process(COMMAND ${CTEST} -N WORKING_DIRECTORY ${BUILD_DIR}
                OUTPUT_VARIABLE all RESULT_VARIABLE rc)
string(REGEX MATCH "Total Tests: ([0-9]+)" _ "${all}")
if(NOT rc EQUAL 0 OR NOT CMAKE_MATCH_1 GREATER 1)
  message(FATAL_ERROR "ctest -N in ${BUILD_DIR} found no tests (exit ${rc}):\n${all}")
endif()
set(total ${CMAKE_MATCH_1})

# -LE drops every test with a matching label; what is left has none.
execute_process(COMMAND ${CTEST} -N -LE "${LABELS}" WORKING_DIRECTORY ${BUILD_DIR}
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ctest -N -LE failed (exit ${rc}):\n${out}")
endif()
string(REGEX MATCHALL "Test +#[0-9]+: [^\n]*" unlabelled "${out}")
list(LENGTH unlabelled count)
if(count GREATER 0)
  list(JOIN unlabelled "\n  " names)
  message(FATAL_ERROR "${count} of ${total} tests have none of the labels ${LABELS}:\n  ${names}")
endif()
message(STATUS "all ${total} tests carry a label matching ${LABELS}")

# A Catch2 case named with ';' is split by catch_discover_tests into a test that fails and one
# whose name starts with a space (ctest lists are ';'-separated): never name one so.
string(REGEX MATCHALL "Test +#[0-9]+:  [^\n]*" split "${all}")
list(LENGTH split count)
if(count GREATER 0)
  list(JOIN split "\n  " names)
  message(FATAL_ERROR "${count} test name(s) were split at a ';' (rename the Catch2 case without ';'):\n  ${names}")
endif()
