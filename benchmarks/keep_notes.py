#!/usr/bin/env python3
"""keep_notes.py OUT: moves the freshly generated tables OUT.new to OUT, keeping
the hand-written reading of the old OUT (from its line "Reading it" on), so a
benchmark script can regenerate its tables without losing what was written."""
import os
import sys

out = sys.argv[1]
new = open(out + ".new").read()
notes = ""
if os.path.exists(out):
    old = open(out).read()
    i = old.find("\nReading it")
    notes = old[i:] if i >= 0 else ""
open(out, "w").write(new + notes)
os.remove(out + ".new")
