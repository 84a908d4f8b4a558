# astromm finetune (issue 6): real multi-rank fine-tuning on a small synthetic dataset.
add_test(NAME cli_finetune COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/finetune.sh $<TARGET_FILE:astromm>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_finetune PROPERTIES LABELS "cli;mpi;quick" TIMEOUT 300 PROCESSORS 2
  PASS_REGULAR_EXPRESSION "finetune: 0 failed" FAIL_REGULAR_EXPRESSION "FAIL:")

# The class-weighted, class-masked cross-entropy formula of cls_step (the one
# test_mpi_cls_step checks the C code against) equals PyTorch's (skips without torch).
add_test(NAME weighted_ce_pytorch COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/reference/check_weighted_ce.py)
set_tests_properties(weighted_ce_pytorch PROPERTIES LABELS "unit;quick" TIMEOUT 120 SKIP_RETURN_CODE 77)
