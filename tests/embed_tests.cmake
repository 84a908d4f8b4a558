# astromm embed / search / outliers (issue 6, items 3-5). The unit tests
# tests/test_search.c and tests/test_outliers.c register themselves (test_*.c);
# these run the commands on a small synthetic dataset after a few-step
# astromm train, under mpirun at np 1 and 2 (tests/cli/embed_*.sh).
foreach(t embed_pipeline embed_errors)
  add_test(NAME cli_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/${t}.sh $<TARGET_FILE:astromm>
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(cli_${t} PROPERTIES LABELS "cli;mpi;quick" TIMEOUT 300 PROCESSORS 2
    PASS_REGULAR_EXPRESSION "${t}: 0 failed" FAIL_REGULAR_EXPRESSION "FAIL:")
endforeach()
