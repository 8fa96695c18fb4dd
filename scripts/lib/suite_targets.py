#!/usr/bin/env python3
"""Prints the build outputs (paths relative to the build directory) that
the tests of one meson suite need: their executables and what they depend
on. Lets a build directory that runs only that suite build only that.

Usage: suite_targets.py BUILD_DIR SUITE
"""
import json
import os
import subprocess
import sys


def introspect(build_dir, what):
    out = subprocess.run(["meson", "introspect", build_dir, what], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: suite_targets.py BUILD_DIR SUITE")
    build_dir, suite = sys.argv[1], sys.argv[2]
    files_of = {t["id"]: t["filename"] for t in introspect(build_dir, "--targets")}
    wanted = set()
    for test in introspect(build_dir, "--tests"):
        if not any(s.split(":")[-1] == suite for s in test["suite"]):
            continue
        for dep in test.get("depends", []):
            wanted.update(files_of.get(dep, []))
    root = os.path.realpath(build_dir)
    for path in sorted(wanted):
        print(os.path.relpath(path, root))


if __name__ == "__main__":
    main()
