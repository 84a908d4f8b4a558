// See progress_dest.h.
#define _POSIX_C_SOURCE 200809L
#include "train/progress_dest.h"


#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int env_set(const char *name) {
    const char *v = getenv(name);
    return v && *v;
}

// Does process pid's stdout (fd 1) lead to a terminal device? /proc/<pid>/fd/1
// names it: "/dev/pts/N", "/dev/ttyN", "/dev/console" are terminals; a file,
// pipe, socket or /dev/null is not. Unreadable (another user, no /proc): no.
static int pid_stdout_is_terminal(pid_t pid) {
    char link[64], target[256];
    snprintf(link, sizeof link, "/proc/%ld/fd/1", (long)pid);
    const ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) return 0;
    target[n] = 0;
    return !strncmp(target, "/dev/pts/", 9) || !strncmp(target, "/dev/tty", 8) || !strcmp(target, "/dev/console");
}

int progress_dest_resolve(int mode, FILE *out) {
    if (!out || mode == RUN_PROGRESS_OFF) return PROGRESS_OFF;
    if (mode == RUN_PROGRESS_LINES) return PROGRESS_LINES;
    if (mode == RUN_PROGRESS_TTY) return PROGRESS_TTY;
    if (!isatty(fileno(out))) return PROGRESS_LINES;
    if (!env_set("OMPI_COMM_WORLD_SIZE") && !env_set("SLURM_JOB_ID") && !env_set("PMI_RANK") &&
        !env_set("PMIX_RANK"))
        return PROGRESS_TTY;
    // Under a launcher our terminal may be the launcher's pty: look at where the
    // launcher (the parent: mpirun on its own node, orted/slurmstepd elsewhere,
    // whose stdout is never the user's terminal) sends its output.
    return pid_stdout_is_terminal(getppid()) ? PROGRESS_TTY : PROGRESS_LINES;
}
