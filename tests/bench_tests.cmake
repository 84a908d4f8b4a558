# Benchmark smoke tests (issue 7): the collectives benchmark at 2 ranks over a
# few small sizes (prints its tables, correct results, exit 0), and the
# analytic scaling model (prints the 64-GPU row of its efficiency table).
if(NOT MPIEXEC_EXECUTABLE)
  find_program(MPIEXEC_EXECUTABLE NAMES mpirun mpiexec)
endif()
if(MPIEXEC_EXECUTABLE AND TARGET bench_collectives)
  add_test(NAME bench_collectives_smoke
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/bench_collectives.sh ${MPIEXEC_EXECUTABLE}
            $<TARGET_FILE:bench_collectives>
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(bench_collectives_smoke PROPERTIES
    LABELS "bench;quick" TIMEOUT 120 PROCESSORS 2
    ENVIRONMENT "OMP_NUM_THREADS=1;OPENBLAS_NUM_THREADS=1"
    PASS_REGULAR_EXPRESSION "bench_collectives smoke: ok"
    FAIL_REGULAR_EXPRESSION "(^|\n)FAIL ")
endif()
if(TARGET scaling_model)
  add_test(NAME bench_scaling_model COMMAND $<TARGET_FILE:scaling_model> --max-gpus 64
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(bench_scaling_model PROPERTIES LABELS "bench;quick" TIMEOUT 60
    PASS_REGULAR_EXPRESSION "ESTIMATE.*\n\\| 64 \\| [0-9.]+ % \\|")
endif()
# slurm/scaling_study.sh without a cluster: --dry-run submit lines and collect on fake metrics.
add_test(NAME bench_scaling_study COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/bench_scaling_study.sh
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(bench_scaling_study PROPERTIES LABELS "bench;quick" TIMEOUT 60
  PASS_REGULAR_EXPRESSION "scaling_study smoke: ok")
