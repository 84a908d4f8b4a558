# Command-line behaviour of the astromm binary: help, errors that name the
# bad key/file, the smoke run, checkpoints that round-trip and open in Python.
set(AM $<TARGET_FILE:astromm>)

function(astromm_cli_test name)
  cmake_parse_arguments(T "WILL_FAIL" "MATCH" "" ${ARGN})
  add_test(NAME cli_${name} COMMAND ${T_UNPARSED_ARGUMENTS} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(cli_${name} PROPERTIES LABELS "cli;quick" TIMEOUT 300
    ENVIRONMENT "OMP_NUM_THREADS=2;OPENBLAS_NUM_THREADS=1")
  if(T_MATCH)
    set_tests_properties(cli_${name} PROPERTIES PASS_REGULAR_EXPRESSION "${T_MATCH}")
  endif()
  if(T_WILL_FAIL)
    set_tests_properties(cli_${name} PROPERTIES WILL_FAIL TRUE)
  endif()
endfunction()

astromm_cli_test(help ${AM} --help MATCH "commands:")
astromm_cli_test(smoke_help ${AM} smoke --help MATCH "usage: astromm smoke")
astromm_cli_test(synth_help ${AM} synth --help MATCH "usage: astromm synth")
astromm_cli_test(synth_no_out ${AM} synth --n 10 WILL_FAIL)
astromm_cli_test(ingest_help ${AM} ingest --help MATCH "usage: astromm ingest")
astromm_cli_test(ingest_no_out ${AM} ingest --manifest x.csv WILL_FAIL)
astromm_cli_test(devices ${AM} devices MATCH "cpu: .*cuda: ")
astromm_cli_test(unknown_command ${AM} frobnicate WILL_FAIL)
astromm_cli_test(unknown_option ${AM} smoke --bogus 1 WILL_FAIL)
astromm_cli_test(smoke_tiny ${AM} smoke --config configs/tiny.cfg --steps 6 MATCH "done: loss")
# Bad configuration is refused with the key named (exit code 2 checked by the script).
add_test(NAME cli_config_errors COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/config_errors.sh ${AM}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
add_test(NAME cli_checkpoint_roundtrip COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/checkpoint.sh ${AM}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_config_errors cli_checkpoint_roundtrip PROPERTIES LABELS "cli;quick" TIMEOUT 300)

# astromm train (issue 5): each script makes a small synthetic dataset and runs
# real multi-rank training under mpirun (see tests/cli/train_lib.sh).
foreach(t train_ranks train_resume train_faults train_learns train_nonfinite train_preempt train_galaxies galaxy_downstream)
  add_test(NAME cli_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/${t}.sh ${AM}
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(cli_${t} PROPERTIES LABELS "cli;mpi;quick" TIMEOUT 300 PROCESSORS 2
    PASS_REGULAR_EXPRESSION "${t}: 0 failed" FAIL_REGULAR_EXPRESSION "FAIL:")
endforeach()
# The published-size preemption case takes about a minute on 2 cores.
set_tests_properties(cli_train_preempt PROPERTIES TIMEOUT 900 LABELS "cli;mpi;slow")
set_tests_properties(cli_train_galaxies cli_galaxy_downstream PROPERTIES SKIP_RETURN_CODE 77)

# astromm ingest on real ASAS curves (issue 14): several CSV files, missing ids,
# computed photo columns, an evaluation-only dataset with copied statistics, class
# lists, 1-2-3 ranks, fine-tuning with a class absent from training.
add_test(NAME cli_ingest_asas COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/ingest_asas.sh ${AM}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_ingest_asas PROPERTIES LABELS "cli;mpi;quick" TIMEOUT 300 PROCESSORS 2 SKIP_RETURN_CODE 77
  PASS_REGULAR_EXPRESSION "ingest_asas: 0 failed" FAIL_REGULAR_EXPRESSION "FAIL:")
# A survey of features without light curves (real LINEAR rows) as metadata columns.
add_test(NAME cli_ingest_table COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/ingest_table.sh ${AM}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_ingest_table PROPERTIES LABELS "cli;quick" TIMEOUT 300 SKIP_RETURN_CODE 77
  PASS_REGULAR_EXPRESSION "ingest_table: 0 failed" FAIL_REGULAR_EXPRESSION "FAIL:")
# Galaxy images (issue 16): real JPEGs into the image dataset, bad images skipped by row.
add_test(NAME cli_ingest_images COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/ingest_images.sh ${AM}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_ingest_images PROPERTIES LABELS "cli;quick" TIMEOUT 300 SKIP_RETURN_CODE 77
  PASS_REGULAR_EXPRESSION "all checks passed" FAIL_REGULAR_EXPRESSION "FAIL:")
