# astromm map (issue 6): 2-D maps of embeddings and the plotting tools. Each
# script makes its own small input files (h5py) in a temporary directory.
foreach(t map_cli map_tools)
  add_test(NAME cli_${t} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/${t}.sh $<TARGET_FILE:astromm>
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(cli_${t} PROPERTIES LABELS "cli;quick" TIMEOUT 300
    ENVIRONMENT "OMP_NUM_THREADS=2;OPENBLAS_NUM_THREADS=1"
    PASS_REGULAR_EXPRESSION "${t}: 0 failed" FAIL_REGULAR_EXPRESSION "FAIL:")
endforeach()
astromm_cli_test(map_help ${AM} map --help MATCH "usage: astromm map")
astromm_cli_test(map_no_in ${AM} map --out x.csv WILL_FAIL)
