#!/usr/bin/python3
"""readme_check.py - the README's commands and options against the program.

usage: readme_check.py README.md WMBENCH

Prints TAP-like "ok - ..." / "not ok - ..." lines and exits 1 on any failure:
  - the commands of the README's synopsis ("## Commands") are those of
    `wmbench --help`;
  - every long option the README writes after `wmbench COMMAND` (synopsis,
    code blocks and inline code) is an option of `wmbench COMMAND --help`,
    spelled out in full (getopt's prefix matching would hide a drift);
  - every option of `wmbench COMMAND --help` but --help appears in the
    synopsis;
  - every `make TARGET` it names is a target of the Makefile;
  - every command the README says a script of `wmbench slurm` runs (a
    backquoted `srun ...` or `mpirun ...`) is in the script it prints.
"""
import re
import subprocess
import sys


def help_text(wm, args):
    out = subprocess.run([wm] + args + ["--help"], capture_output=True, text=True, check=False)
    return out.stdout + out.stderr


def long_opts(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))


def help_opts(text):
    """The long options of a --help text: those that begin an option line."""
    return set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", text, re.M))


def main():
    readme_path, wm = sys.argv[1], sys.argv[2]
    readme = open(readme_path, encoding="utf-8").read()
    results = []

    def check(desc, cond, detail=""):
        results.append((cond, desc + ("" if cond else f": {detail}")))

    # the synopsis block under "## Commands"
    m = re.search(r"^## Commands\n+```\n(.*?)```", readme, re.S | re.M)
    check("README has a synopsis block under '## Commands'", m is not None, "not found")
    synopsis = m.group(1) if m else ""
    syn_cmds = {}
    for line in synopsis.splitlines():
        w = line.split()
        if len(w) >= 2 and w[0] == "wmbench" and not w[1].startswith("-"):
            syn_cmds[w[1]] = line
    top = help_text(wm, [])
    m = re.search(r"commands:\n(.*?)\n\n", top, re.S)
    prog_cmds = set(re.findall(r"^  ([a-z]+) ", m.group(1), re.M)) if m else set()
    check("the synopsis lists the commands of 'wmbench --help'",
          prog_cmds and set(syn_cmds) == prog_cmds,
          f"README {sorted(syn_cmds)}, program {sorted(prog_cmds)}")

    # every 'wmbench CMD ...' usage in the README: synopsis, code, inline code
    uses = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", readme, re.S):
        uses += [ln for ln in block.splitlines() if re.search(r"\bwmbench [a-z]", ln)]
    uses += [c for c in re.findall(r"`([^`\n]+)`", readme) if re.search(r"\bwmbench [a-z]", c)]
    for cmd in sorted(prog_cmds):
        opts = help_opts(help_text(wm, [cmd]))
        used = set()
        for u in uses:
            for seg in re.finditer(r"\bwmbench " + cmd + r"\b([^|;>&]*)", u):
                used |= long_opts(seg.group(1))
        unknown = sorted(used - opts)
        check(f"every option the README gives 'wmbench {cmd}' is in its --help",
              not unknown, f"not in 'wmbench {cmd} --help': {' '.join(unknown)}")
        missing = sorted(opts - {"--help"} - long_opts(syn_cmds.get(cmd, "")))
        check(f"the synopsis of 'wmbench {cmd}' shows every option of its --help",
              not missing, f"missing from the README synopsis: {' '.join(missing)}")

    # what the README says the slurm script runs
    script = subprocess.run([wm, "slurm", "jobs/ci.yaml"], capture_output=True, text=True,
                            check=False).stdout
    claims = set()
    for para in re.split(r"\n\s*\n|\n(?=- )", readme):
        if "slurm" in para and re.search(r"\bscript\b", para):
            claims |= {c.split(" wmbench")[0].split(" ./wmbench")[0].strip()
                       for c in re.findall(r"`((?:srun|mpirun)[^`]*)`", para)}
    check("the README names the launcher of the slurm script", bool(claims), "no `srun ...` found")
    for c in sorted(claims):
        check(f"the slurm script runs '{c}', as the README says", c in script,
              "not in the output of 'wmbench slurm jobs/ci.yaml'")
    words = re.findall(r"(?:runs|launches) [^.]*?with `(mpirun|srun)`", readme)
    for w in words:
        check(f"the README's 'runs ... with `{w}`' matches the slurm script", w in script,
              f"the script does not use {w}")

    # every make target the README names exists
    makefile = open("Makefile", encoding="utf-8").read()
    targets = set(re.findall(r"^([a-z][a-z-]*)\s*:", makefile, re.M))
    named = set(re.findall(r"`make ([a-z][a-z-]*)", readme))
    named |= {t for b in re.findall(r"```[a-z]*\n(.*?)```", readme, re.S)
              for t in re.findall(r"^make ([a-z][a-z-]*)", b, re.M)}
    check("every 'make TARGET' in the README is a Makefile target",
          named and named <= targets, f"no such target: {' '.join(sorted(named - targets))}")

    failed = 0
    for ok, desc in results:
        print(("ok - " if ok else "not ok - ") + desc)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
