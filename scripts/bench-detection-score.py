#!/usr/bin/env python3
"""Scores the rule backtest against the simulator's labelled incidents.

Usage: bench-detection-score.py DIR WEEKS, where DIR holds labels.json,
residents.json and {resident}.backtest.json (see bench-detection.sh).

An incident is caught when an alert of a kind that stands for it opens
between its start and GRACE after its end; the time to alert is from its
start. Every other alert of a behaviour kind, outside every labelled
incident, is a false alarm.
"""
import json
import statistics
import sys
from datetime import datetime, timedelta

# Label kind -> the alert kinds that catch it. A fall on the watch, a
# racing heart or a smoke alarm is no line of a CASAS log: not scored here.
CATCHES = {
    "inactivity": {"inactivity", "no_morning_activity"},
    "night_wandering": {"night_wandering", "bed_exit_no_return"},
    "missed_meal": {"missed_meal"},
}
ALERT_KINDS = ["inactivity", "no_morning_activity", "night_wandering", "bed_exit_no_return", "missed_meal",
               "device_offline"]
GRACE = timedelta(hours=3)


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def main(folder, weeks):
    labels = json.load(open(f"{folder}/labels.json"))
    residents = [r["key"] for r in json.load(open(f"{folder}/residents.json"))]
    alerts = {key: json.load(open(f"{folder}/{key}.backtest.json"))["alerts"] for key in residents}
    resident_weeks = len(residents) * weeks
    caught = {k: [] for k in CATCHES}
    missed = {k: 0 for k in CATCHES}
    used = set()
    for label in labels:
        kinds = CATCHES.get(label["kind"])
        if kinds is None:
            continue
        start = ts(label["start"])
        end = ts(label["end"]) if label.get("end") else start
        hits = [(ts(a["opened_at"]), i) for i, a in enumerate(alerts[label["resident"]])
                if a["kind"] in kinds and start - timedelta(minutes=5) <= ts(a["opened_at"]) <= end + GRACE]
        if hits:
            opened, i = min(hits)
            used.add((label["resident"], i))
            caught[label["kind"]].append((opened - start).total_seconds() / 60)
        else:
            missed[label["kind"]] += 1
    # An alert during a labelled incident (a missed lunch while lying on the
    # floor) is no false alarm, even if it is not the one that caught it.
    spans = {}
    for label in labels:
        if label["kind"] in CATCHES:
            start = ts(label["start"])
            end = ts(label["end"]) if label.get("end") else start
            spans.setdefault(label["resident"], []).append((start - timedelta(minutes=5), end + GRACE))
    false = {k: 0 for k in ALERT_KINDS}
    for key, items in alerts.items():
        for i, a in enumerate(items):
            during = any(lo <= ts(a["opened_at"]) <= hi for lo, hi in spans.get(key, []))
            if a["kind"] in false and (key, i) not in used and not during:
                false[a["kind"]] += 1
    print("| incident | incidents | caught | median time to alert |")
    print("|---|---:|---:|---:|")
    for kind in CATCHES:
        n = len(caught[kind]) + missed[kind]
        median = f"{statistics.median(caught[kind]):.0f} min" if caught[kind] else "-"
        print(f"| {kind} | {n} | {len(caught[kind])} | {median} |")
    other = sorted({label["kind"] for label in labels} - set(CATCHES))
    print()
    print("| alert kind | false alarms | per resident-week |")
    print("|---|---:|---:|")
    for kind in ALERT_KINDS:
        print(f"| {kind} | {false[kind]} | {false[kind] / resident_weeks:.2f} |")
    print()
    print(f"{resident_weeks} resident-weeks; not in a CASAS log, so not scored: {', '.join(other) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
