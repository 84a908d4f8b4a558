"""Shared by the tools/plot_*.py scripts: error exit, matplotlib (Agg) import
with an install hint, and saving a figure with a clear error."""
import sys


def fail(tool, msg, code=1):
    print(f"{tool}: error: {msg}", file=sys.stderr)
    sys.exit(code)


def pyplot(tool, code=1):
    """matplotlib.pyplot on the Agg backend, or exit naming the package."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail(tool, "matplotlib is not installed (Debian: apt-get install python3-matplotlib; "
                   "scripts/deps.sh installs it)", code)
    return plt


def save(tool, fig, path, dpi, code=1):
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as e:
        fail(tool, f"{path}: cannot write: {e.strerror}", code)
