#!/usr/bin/env python3
"""Sums up the test runs of scripts/test in one line: N passed, M failed, K skipped.

For each build directory given, reads meson's testlog.json; a test whose
binary wrote a GoogleTest XML report counts its test cases, any other test
counts as one. A binary that failed although its report shows no failed case
(a crash, a sanitizer report at exit, a timeout) adds one failure, so nothing
that went wrong is hidden. Exits non-zero when anything failed or nothing ran.
"""
import json
import os
import sys
import xml.etree.ElementTree as ET


def gtest_counts(path):
    passed = failed = skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.get("result") in ("skipped", "suppressed") or case.find("skipped") is not None \
                or case.get("status") == "notrun":
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def summarize(build_dir):
    log = os.path.join(build_dir, "meson-logs", "testlog.json")
    totals = [0, 0, 0]
    if not os.path.exists(log):
        return totals
    xml_dir = os.path.join(build_dir, "test-xml")
    with open(log) as f:
        for line in f:
            entry = json.loads(line)
            result = entry.get("result", "FAIL")
            command = entry.get("command") or [""]
            report = os.path.join(xml_dir, os.path.basename(command[0]) + ".xml")
            if os.path.exists(report):
                try:
                    p, fl, s = gtest_counts(report)
                except ET.ParseError:
                    p, fl, s = 0, 1, 0
                if result not in ("OK", "SKIP", "EXPECTEDFAIL") and fl == 0:
                    fl = 1
                totals[0] += p
                totals[1] += fl
                totals[2] += s
            elif result in ("OK", "EXPECTEDFAIL"):
                totals[0] += 1
            elif result == "SKIP":
                totals[2] += 1
            else:
                totals[1] += 1
    return totals


def main():
    totals = [0, 0, 0]
    for build_dir in sys.argv[1:]:
        for i, n in enumerate(summarize(build_dir)):
            totals[i] += n
    print(f"{totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 1 if totals[1] or totals[0] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
