// Where the progress line goes, and so whether it may rewrite itself with '\r'.
//
// isatty(stdout) is not enough under a launcher: Open MPI's mpirun gives every
// rank a pseudo-terminal even when the job's output goes to a file, and a batch
// log full of '\r' is one long line. So `run.progress = "auto"` decides by the
// real destination: outside a launcher, isatty; under mpirun/srun
// (OMPI_COMM_WORLD_SIZE or SLURM_JOB_ID set) in-place only when the launcher
// itself (this rank's parent process, on the launcher's node) writes to a
// terminal, else plain lines. "tty", "lines" and "off" force the choice.
#ifndef ASTROMM_PROGRESS_DEST_H
#define ASTROMM_PROGRESS_DEST_H

#include <stdio.h>

#include "config/run_config.h"

enum { PROGRESS_OFF = 0, PROGRESS_LINES = 1, PROGRESS_TTY = 2 };

// mode: run.progress, RUN_PROGRESS_* (anything else: auto); out: the
// stream the line goes to. Reads the environment and /proc (Linux).
int progress_dest_resolve(int mode, FILE *out);

#endif
