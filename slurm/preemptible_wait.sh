# Sourced by the astromm job templates (slurm/*.sbatch) after they start the
# launcher in the background:  astromm_wait_preemptible PID LAUNCHER RUN_DIR
# Forwards the batch shell's signals to the ranks, waits, requeues after a
# preemption checkpoint, and exits with astromm's status (slurm/README.md §3-4).
#
# Signals. SIGUSR1 (the time-limit warning, --signal=B:USR1@120): forwarded,
# then requeue. SIGTERM (scancel, preemption): forwarded, no requeue (Slurm
# decides). To srun as the signal itself (srun passes both to every rank). To
# mpirun always as SIGUSR1: Open MPI's mpirun passes SIGUSR1 on and returns the
# ranks' exit status, but given SIGTERM it SIGKILLs the ranks about
# 2 x odls_base_sigkill_timeout later and exits 1 whatever they did; astromm
# treats SIGTERM and SIGUSR1 alike.
#
# scancel also signals mpirun directly (every process of the job gets SIGTERM).
# Then mpirun's status is 1 even when astromm stopped cleanly; astromm's own
# verdict is run.dir/preempted, written once the preemption checkpoint is
# complete (and removed when a run starts): with it the job exits 3.
# OMPI_MCA_odls_base_sigkill_timeout (set below when unset) gives the ranks
# time to end their step before mpirun kills them; the checkpoint itself is
# written the moment the signal arrives (docs/training.md, "Preemption").
export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-10}

# The preemption checkpoint is written by a process of its own that outlives a
# killed rank (run.dir/preempting: "pid host" while it writes). Wait for it
# (at most ASTROMM_WRITER_WAIT s, default 120) before reading run.dir/preempted
# and before the job ends (Slurm kills what is left of a finished job).
astromm_wait_checkpoint_writer() {
  local f=$1/preempting wpid whost i
  for ((i = 0; i < ${ASTROMM_WRITER_WAIT:-120} * 10; i++)); do
    [ -f "$f" ] || return 0
    read -r wpid whost <"$f" 2>/dev/null || return 0
    if [ "$whost" = "$(hostname)" ]; then kill -0 "$wpid" 2>/dev/null || return 0; fi
    [ $i -eq 0 ] && echo "astromm job: waiting for the checkpoint writer (pid $wpid on $whost)"
    sleep 0.1
  done
  echo "astromm job: the checkpoint writer is still running after ${ASTROMM_WRITER_WAIT:-120} s" >&2
}

astromm_wait_preemptible() {
  local pid=$1 launcher=$2 run_dir=$3 rc
  local fwd_term=TERM
  [ "$launcher" = mpirun ] && fwd_term=USR1
  requeue=0 interrupted=0 signalled=0
  trap 'echo "astromm job: SIGUSR1, forwarding (checkpoint, then requeue)"; requeue=1 interrupted=1 signalled=1; kill -USR1 $pid' USR1
  trap 'echo "astromm job: SIGTERM, forwarding (checkpoint)"; interrupted=1 signalled=1; kill -'$fwd_term' $pid' TERM
  while :; do
    interrupted=0
    wait "$pid"; rc=$?
    [ $interrupted -eq 1 ] || break   # a trap interrupted wait: the ranks are still stopping
  done
  echo "astromm job: $launcher exited $rc"
  [ $signalled -eq 1 ] && astromm_wait_checkpoint_writer "$run_dir"
  if [ $signalled -eq 1 ] && [ $rc -ne 3 ] && [ -f "$run_dir/preempted" ]; then
    echo "astromm job: astromm wrote its preemption checkpoint ($(tr '\n' ' ' <"$run_dir/preempted")); exit 3"
    rc=3
  fi
  echo "astromm job: astromm exited $rc"
  if [ $rc -eq 3 ] && [ $requeue -eq 1 ] && [ "${ASTROMM_REQUEUE:-1}" = 1 ]; then
    if scontrol requeue "$SLURM_JOB_ID"; then
      echo "astromm job: checkpoint written, job $SLURM_JOB_ID requeued (it resumes from $run_dir)"
      exit 0
    fi
    echo "astromm job: scontrol requeue failed; resubmit the same command to resume" >&2
  fi
  exit $rc
}
