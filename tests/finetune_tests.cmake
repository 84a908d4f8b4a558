# astromm finetune (issue 6): real multi-rank fine-tuning on a small synthetic dataset.
add_test(NAME cli_finetune COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/finetune.sh $<TARGET_FILE:astromm>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_finetune PROPERTIES LABELS "cli;mpi;quick" TIMEOUT 300 PROCESSORS 2
  PASS_REGULAR_EXPRESSION "finetune: 0 failed" FAIL_REGULAR_EXPRESSION "FAIL:")
