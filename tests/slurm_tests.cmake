# astromm under a real Slurm (issue 7): tests/slurm/slurm_test.sh starts munged,
# slurmctld and slurmd on localhost from a temporary directory, submits
# slurm/train_cpu.sbatch (2 tasks) and checks completion, checkpoints, and
# preemption (SIGUSR1) -> checkpoint -> requeue -> bit-identical resume.
# Skipped (exit 77) without slurm-wlm and munge (scripts/deps.sh installs them) or root.
add_test(NAME slurm_train COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/slurm/slurm_test.sh $<TARGET_FILE:astromm>
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(slurm_train PROPERTIES LABELS "slurm;mpi" TIMEOUT 300 PROCESSORS 2 RUN_SERIAL TRUE
  SKIP_RETURN_CODE 77 PASS_REGULAR_EXPRESSION "slurm_test: 0 failed|SKIP:" FAIL_REGULAR_EXPRESSION "FAIL:")
