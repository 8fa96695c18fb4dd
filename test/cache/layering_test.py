#!/usr/bin/env python3
"""Checks that each folder of src/cache uses only the folders it names.

src/cache/meson.build builds each folder as a static library and names the
folders it may use. This reads the libraries' symbol tables (nm): a symbol a
folder needs (undefined in its library) that another folder's library
defines (a strong definition) must come from a folder it names. Inline
functions and templates, defined weakly wherever they are used, say nothing
and are left out.

Usage: layering_test.py NAME=USES LIBRARY [NAME=USES LIBRARY ...]
USES is a comma-separated list of folder names, possibly empty.
"""
import subprocess
import sys

STRONG = set("TDBR")


def symbols(library):
    out = subprocess.run(["nm", "--defined-only", "-g", library], check=True, capture_output=True, text=True)
    defined = set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in STRONG:
            defined.add(parts[2])
    out = subprocess.run(["nm", "--undefined-only", "-g", library], check=True, capture_output=True, text=True)
    needed = {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}
    return defined, needed


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), check=True, capture_output=True, text=True)
    return out.stdout.splitlines()


def main(argv):
    if len(argv) < 2 or len(argv) % 2 != 0:
        sys.exit("usage: layering_test.py NAME=USES LIBRARY [NAME=USES LIBRARY ...]")
    folders = {}
    for spec, library in zip(argv[0::2], argv[1::2]):
        name, _, uses = spec.partition("=")
        folders[name] = (library, set(filter(None, uses.split(","))))
    for name, (_, uses) in folders.items():
        unknown = uses - folders.keys()
        if unknown:
            sys.exit(f"{name}: names unknown folders {sorted(unknown)}")
    definer = {}
    needs = {}
    for name, (library, _) in folders.items():
        defined, needed = symbols(library)
        needs[name] = needed
        for symbol in defined:
            definer.setdefault(symbol, name)
    wrong = []
    for name, (_, uses) in sorted(folders.items()):
        for symbol in sorted(needs[name]):
            owner = definer.get(symbol)
            if owner is not None and owner != name and owner not in uses:
                wrong.append((name, owner, symbol))
    if wrong:
        for (name, owner, _), pretty in zip(wrong, demangle([w[2] for w in wrong])):
            print(f"{name}/ uses {owner}/, which it does not name: {pretty}")
        return 1
    print(f"{len(folders)} folders, each using only the folders it names")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
