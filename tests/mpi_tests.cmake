# Multi-rank tests: each MPI test program under mpirun at 1, 2 and 4 ranks
# (included by tests/CMakeLists.txt; the same programs also run as singleton
# "unit" tests there).
#
# Guarding against tests that pass having run nothing: as root, mpirun without
# OMPI_ALLOW_RUN_AS_ROOT{,_CONFIRM} starts no process and exits 0. So a test
# passes only when its output shows
#   * rank 0's summary "<name>: ranks=N, C checks, 0 failed", whose counts are
#     summed over all ranks (each rank exits non-zero if any rank failed), and
#   * "mpirun exit status 0", printed by the wrapper after mpirun returns
#     (PASS_REGULAR_EXPRESSION makes ctest ignore the exit code itself).
# Any "FAIL " line (testutil EXPECT) or astromm fatal error fails the test.

if(NOT MPIEXEC_EXECUTABLE)
  find_program(MPIEXEC_EXECUTABLE NAMES mpirun mpiexec)
endif()
if(NOT MPIEXEC_EXECUTABLE)
  message(WARNING "astromm: no mpirun/mpiexec found: multi-rank MPI tests are not registered")
  return()
endif()

set(ASTROMM_MPI_TEST_ENV
  OMPI_ALLOW_RUN_AS_ROOT=1
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  OMPI_MCA_rmaps_base_oversubscribe=1
  OMP_NUM_THREADS=1
  OPENBLAS_NUM_THREADS=1)

foreach(prog test_mpi_search test_mpi_comm test_mpi_clip test_mpi_loader test_mpi_image_loader test_mpi_train_step test_mpi_cls_step test_reference)
  if(NOT TARGET ${prog})
    continue()
  endif()
  foreach(np 1 2 4)
    add_test(NAME ${prog}_np${np}
      COMMAND /bin/sh -c
        "\"$0\" --oversubscribe -np ${np} \"$1\"; rc=$?; echo \"mpirun exit status $rc\"; exit $rc"
        ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:${prog}>
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(${prog}_np${np} PROPERTIES
      LABELS "mpi;quick"
      TIMEOUT 300
      PROCESSORS ${np}
      ENVIRONMENT "${ASTROMM_MPI_TEST_ENV}"
      PASS_REGULAR_EXPRESSION "${prog}: ranks=${np}, [0-9]+ checks, 0 failed\n.*mpirun exit status 0\n"
      FAIL_REGULAR_EXPRESSION "(^|\n)FAIL |astromm: error")
  endforeach()
endforeach()
