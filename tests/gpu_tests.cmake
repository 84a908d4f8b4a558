# CUDA-vs-CPU tests (included by tests/CMakeLists.txt): every op of ops.h and
# whole AstroM3 training steps on the GPU against the CPU implementation.
# They build in every configuration (they use only ops.h / ops_cpu.h), and
# without a usable GPU they print "SKIP: ..." and exit 77, which ctest reports
# as skipped. Run them with `ctest -L gpu` (scripts/gpu_check.sh on a GPU machine).
#
# ASTROMM_TF32=0: the tolerances assume full-FP32 cuBLAS (the tests also clear it).
# ASTROMM_GPU_TESTS_ON_CPU=1 in the environment makes them compare the CPU
# device with itself instead of skipping (a self-test of the harness).
file(GLOB ASTROMM_GPU_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/gpu/test_*.c)
foreach(src ${ASTROMM_GPU_TEST_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_compile_options(${name} PRIVATE ${ASTROMM_C_WARNINGS} ${ASTROMM_C_OPT})
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE astromm_core)
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "ASTROMM_TF32=0")
endforeach()

# The NCCL backend of mpi/comm.h against the MPI one at 2 ranks (the loop above
# also runs it as a single rank). NCCL needs one GPU per rank: with fewer GPUs
# than ranks every rank skips (exit 77). Pass needs the summed summary line and
# mpirun's exit status, like tests/mpi_tests.cmake.
if(TARGET test_gpu_nccl AND MPIEXEC_EXECUTABLE)
  add_test(NAME test_gpu_nccl_np2
    COMMAND /bin/sh -c
      "\"$0\" --oversubscribe -np 2 \"$1\"; rc=$?; echo \"mpirun exit status $rc\"; exit $rc"
      ${MPIEXEC_EXECUTABLE} $<TARGET_FILE:test_gpu_nccl>
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(test_gpu_nccl_np2 PROPERTIES
    LABELS "gpu"
    SKIP_RETURN_CODE 77
    TIMEOUT 600
    PROCESSORS 2
    ENVIRONMENT "${ASTROMM_MPI_TEST_ENV};ASTROMM_TF32=0"
    PASS_REGULAR_EXPRESSION "test_gpu_nccl: ranks=2, [0-9]+ checks, 0 failed\n.*mpirun exit status 0\n"
    FAIL_REGULAR_EXPRESSION "(^|\n)FAIL |astromm: error")
endif()

# astromm train on the GPU through the CLI: bit-exact resume, GPU = CPU losses,
# tf32/bf16 runs (tests/cli/train_gpu.sh; exit 77 without a GPU).
add_test(NAME cli_train_gpu COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/train_gpu.sh $<TARGET_FILE:astromm>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(cli_train_gpu PROPERTIES LABELS "gpu" SKIP_RETURN_CODE 77 TIMEOUT 600
  PASS_REGULAR_EXPRESSION "train_gpu: 0 failed" FAIL_REGULAR_EXPRESSION "FAIL:")
