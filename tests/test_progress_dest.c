// run.progress: the progress line rewrites itself with '\r' only when its real
// destination is a terminal. Under mpirun a rank's stdout is a pty even when the
// job's output goes to a file; then the launcher's (the parent's) stdout decides.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "train/progress_dest.h"

// Resolves `mode` in a child whose stdout-equivalent stream is the pty `tty_path`,
// while this process (the child's parent, standing in for mpirun) has parent_fd
// as its stdout. Returns the child's answer.
static int resolve_in_child(int mode, const char *tty_path, int parent_fd, int under_launcher) {
    fflush(stdout);
    const int saved = dup(1);
    REQUIRE(saved >= 0 && dup2(parent_fd, 1) == 1, "dup2");
    const pid_t pid = fork();
    REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        if (under_launcher) setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
        else {
            unsetenv("OMPI_COMM_WORLD_SIZE");
            unsetenv("SLURM_JOB_ID");
            unsetenv("PMI_RANK");
            unsetenv("PMIX_RANK");
        }
        FILE *out = fopen(tty_path, "w");
        _exit(out ? progress_dest_resolve(mode, out) : 99);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    dup2(saved, 1);
    close(saved);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 98;
}

int main(void) {
    const int master = posix_openpt(O_RDWR | O_NOCTTY);
    REQUIRE(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0, "cannot open a pseudo-terminal");
    const char *tty = ptsname(master);
    REQUIRE(tty, "ptsname");
    const int tty_fd = open(tty, O_WRONLY | O_NOCTTY);
    char logpath[] = "/tmp/astromm_progress_XXXXXX";
    const int log_fd = mkstemp(logpath);
    REQUIRE(tty_fd >= 0 && log_fd >= 0, "open %s / log", tty);

    // Forced modes.
    EXPECT(progress_dest_resolve(RUN_PROGRESS_OFF, stdout) == PROGRESS_OFF, "off");
    EXPECT(progress_dest_resolve(RUN_PROGRESS_LINES, stdout) == PROGRESS_LINES, "lines");
    EXPECT(progress_dest_resolve(RUN_PROGRESS_TTY, stdout) == PROGRESS_TTY, "tty");
    EXPECT(progress_dest_resolve(RUN_PROGRESS_AUTO, NULL) == PROGRESS_OFF, "no stream");
    // A file or pipe is never a terminal.
    FILE *file = fdopen(dup(log_fd), "w");
    EXPECT(progress_dest_resolve(RUN_PROGRESS_AUTO, file) == PROGRESS_LINES, "auto, stdout a file");
    fclose(file);
    // auto on a terminal, no launcher: in place.
    int r = resolve_in_child(RUN_PROGRESS_AUTO, tty, log_fd, 0);
    EXPECT(r == PROGRESS_TTY, "auto, a terminal, no launcher: got %d", r);
    // Under mpirun: the rank's pty, but the launcher writes to a file -> lines.
    r = resolve_in_child(RUN_PROGRESS_AUTO, tty, log_fd, 1);
    EXPECT(r == PROGRESS_LINES, "auto under mpirun, launcher output to a file: got %d", r);
    // Under mpirun run from a terminal: in place.
    r = resolve_in_child(RUN_PROGRESS_AUTO, tty, tty_fd, 1);
    EXPECT(r == PROGRESS_TTY, "auto under mpirun, launcher on a terminal: got %d", r);
    // Forcing lines on a terminal.
    r = resolve_in_child(RUN_PROGRESS_LINES, tty, tty_fd, 1);
    EXPECT(r == PROGRESS_LINES, "lines forced: got %d", r);

    close(tty_fd);
    close(master);
    close(log_fd);
    unlink(logpath);
    printf("test_progress_dest: %d checks, %d failures\n", tu_checks, tu_failures);
    return tu_failures != 0;
}
