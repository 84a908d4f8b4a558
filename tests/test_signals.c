// Preemption signal flag (src/train/signals.c) with raise(): the process must
// survive SIGTERM/SIGUSR1 once the handlers are installed and report them.
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <string.h>

#include "testutil.h"
#include "train/signals.h"

static int handler_is(int sig, void (*h)(int)) {
    struct sigaction cur;
    memset(&cur, 0, sizeof cur);
    sigaction(sig, NULL, &cur);
    return cur.sa_handler == h;
}

int main(void) {
    AmError err = {{0}};
    EXPECT(ASTROMM_EXIT_PREEMPTED == 3, "exit code convention");
    REQUIRE(signals_install(&err) == 0, "%s", err.msg);
    EXPECT(signals_pending() == 0 && signals_count() == 0, "nothing pending after install");

    REQUIRE(raise(SIGUSR1) == 0, "raise");
    EXPECT(signals_pending() == SIGUSR1, "pending %d", signals_pending());
    REQUIRE(raise(SIGTERM) == 0, "raise");
    EXPECT(signals_pending() == SIGUSR1, "first signal wins: %d", signals_pending());
    EXPECT(signals_count() == 2, "count %d", signals_count());

    signals_reset();
    EXPECT(signals_pending() == 0 && signals_count() == 0, "reset");
    REQUIRE(raise(SIGTERM) == 0, "raise");
    EXPECT(signals_pending() == SIGTERM, "SIGTERM pending %d", signals_pending());

    // Re-install clears the flag and still restores the original (default) handlers.
    REQUIRE(signals_install(&err) == 0, "%s", err.msg);
    EXPECT(signals_pending() == 0, "install clears");
    EXPECT(!handler_is(SIGTERM, SIG_DFL), "handler installed");
    signals_restore();
    EXPECT(handler_is(SIGTERM, SIG_DFL) && handler_is(SIGUSR1, SIG_DFL), "restore puts back SIG_DFL");
    return tu_finish("test_signals");
}
