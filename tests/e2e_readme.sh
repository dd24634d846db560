#!/bin/bash
# The README against the program: its commands and options against --help,
# what it says the slurm script runs, its make targets (tests/readme_check.py).
. tests/lib.sh
/usr/bin/python3 tests/readme_check.py README.md "$WM" || nfail=$((nfail + 1))
finish
