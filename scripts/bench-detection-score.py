#!/usr/bin/env python3
"""Scores the rule backtest against the simulator's labelled incidents and
confounders.

Usage: bench-detection-score.py DIR WEEKS [FROM], where DIR holds labels.json,
residents.json, {resident}.backtest.json and recorded.json (the holidays the
benchmark recorded as "away" through the status API; see bench-detection.sh),
and FROM is where the backtest window starts (what was simulated before it
warms the rules up: incidents there are not scored).

An incident is caught when an alert of a kind that stands for it opens
between its start and GRACE after its end (a dead sensor by device_offline);
the time to alert is from its start. Every other alert of a behaviour kind,
or a device_offline caught by no dead sensor, outside every labelled
incident, is a false alarm, except during a holiday nobody recorded as
"away": the rules were right to wonder where she was, so those are counted
apart. Each false alarm is put down to the confounder it opened during (a
long nap, an outing, a visitor, a recorded holiday, shifted sleep, a day of
cold food, a room unused, a stopped kettle, a dead sensor), or to an
ordinary day.

The dangerous look-alikes of going out are incidents: a collapse in the
hall right after closing the door from inside and a fall in the hall coming
back in are caught by inactivity; not back by 22:00 by not_returned. They
are also shown by whether the home has a hall motion sensor (residents.json
`hall_sensor`). Not back by 22:00 is labelled from 22:00 (the fixed bound),
but the rules may know sooner that she is out later than she ever is (her
latest usual return and a margin): a not_returned alert from the evening
outing that became the incident counts, its time to alert negative when it
came before 22:00.

A missed meal the simulator placed on a meal she spent out (an outing
covering half its window or more: the simulator's "lunch out") is no missed
meal any sensor at home could tell from one eaten out, which the rules take
it for (`presence.eating_out`): such incidents are counted and shown, not
scored.
"""
import json
import statistics
import sys
from datetime import datetime, timedelta

# Label kind -> the alert kinds that catch it. A fall on the watch, a
# racing heart or a smoke alarm is no line of a CASAS log: not scored here.
# A dead sensor's right answer is device_offline: the simulator writes its
# OFFLINE line when the live system would have seen it (its death plus its
# kind's heartbeat timeout), the import keeps it in the device's status
# history and the backtest replays it; the time to alert runs from the death.
CATCHES = {
    "inactivity": {"inactivity", "no_morning_activity"},
    "long_lie": {"inactivity", "no_morning_activity"},
    "night_wandering": {"night_wandering", "bed_exit_no_return"},
    "missed_meal": {"missed_meal"},
    "sensor_dead": {"device_offline"},
    # The dangerous look-alikes of going out: a collapse in the hall right
    # after closing the door from inside, a fall on the way back in (both a
    # quiet spell at home: inactivity), and not back by 22:00.
    "hall_collapse": {"inactivity"},
    "fall_on_return": {"inactivity"},
    "not_returned": {"not_returned"},
}
BEHAVIOUR = ["inactivity", "no_morning_activity", "night_wandering", "bed_exit_no_return", "missed_meal",
             "not_returned"]
LOOK_ALIKES = ["hall_collapse", "fall_on_return", "not_returned"]
ALERT_KINDS = BEHAVIOUR + ["device_offline"]
GRACE = timedelta(hours=3)
# An alert a confounder causes opens during it or soon after (a late
# visitor's door is judged after the return window).
CONFOUNDER_GRACE = timedelta(hours=1)
EARLY = timedelta(minutes=5)
# The order in which a false alarm is put down to what it opened during:
# the spans of hours first, the spans of days (a dead sensor, a stopped
# kettle) only when nothing closer explains it.
CONFOUNDERS = [
    ("holiday (recorded away)", lambda l: l["kind"] == "holiday" and l["recorded"]),
    ("visitor", lambda l: l["kind"] == "visitor"),
    ("long_outing", lambda l: l["kind"] == "long_outing"),
    ("outing", lambda l: l["kind"] == "outing"),
    ("long_nap", lambda l: l["kind"] == "long_nap"),
    ("shifted_sleep", lambda l: l["kind"] == "shifted_sleep"),
    ("skipped_cooking", lambda l: l["kind"] == "skipped_cooking"),
    ("room_unused", lambda l: l["kind"] == "room_unused"),
    ("sensor_dead", lambda l: l["kind"] == "sensor_dead"),
    ("stopped_kettle", lambda l: l["kind"] == "stopped_kettle"),
]


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def span(label, grace):
    start = ts(label["start"])
    end = ts(label["end"]) if label.get("end") else start
    return start - EARLY, end + grace


def main(folder, weeks, window_from=None):
    labels = json.load(open(f"{folder}/labels.json"))
    if window_from:
        start = ts(window_from)
        labels = [l for l in labels
                  if (ts(l["end"]) if l.get("end") else ts(l["start"])) >= start
                  and (l.get("class") == "confounder" or ts(l["start"]) >= start)]
    homes = json.load(open(f"{folder}/residents.json"))
    residents = [r["key"] for r in homes]
    hall = {r["key"]: r.get("hall_sensor", True) for r in homes}
    alerts = {key: json.load(open(f"{folder}/{key}.backtest.json"))["alerts"] for key in residents}
    try:
        recorded = {(r["resident"], r["start"]) for r in json.load(open(f"{folder}/recorded.json"))}
    except FileNotFoundError:
        recorded = set()
    # A holiday is recorded if the benchmark could record it (the status API
    # takes periods at most 30 days back), whatever the simulator intended.
    for label in labels:
        if label["kind"] == "holiday":
            label["recorded"] = (label["resident"], label["start"]) in recorded
    resident_weeks = len(residents) * weeks

    # Missed meals she spent out (see above): not scored.
    def out_across(label):
        lo, hi = ts(label["start"]), ts(label["end"])
        out = sum((max(timedelta(0), min(hi, ts(o["end"])) - max(lo, ts(o["start"])))
                   for o in labels if o["resident"] == label["resident"] and o["kind"] == "outing" and o.get("end")),
                  timedelta(0))
        return out * 2 >= hi - lo
    eaten_out = [l for l in labels if l["kind"] == "missed_meal" and l.get("end") and out_across(l)]
    labels = [l for l in labels if l not in eaten_out]

    # The evening outing each not_returned incident grew out of.
    def went_out(label):
        outs = [ts(o["start"]) for o in labels if o["resident"] == label["resident"] and o["kind"] == "outing"
                and o.get("end") and ts(o["end"]) == ts(label["start"])]
        return min(outs) if outs else ts(label["start"])

    caught = {k: [] for k in CATCHES}
    missed = {k: 0 for k in CATCHES}
    # The look-alikes, by whether the home has a hall motion sensor.
    by_hall = {(k, h): [0, 0] for k in LOOK_ALIKES for h in (True, False)}
    used = set()
    for label in labels:
        kinds = CATCHES.get(label["kind"])
        if kinds is None or label.get("class") == "confounder":
            continue
        lo, hi = span(label, GRACE)
        if label["kind"] == "not_returned":
            lo = went_out(label)
        hits = [(ts(a["opened_at"]), i) for i, a in enumerate(alerts[label["resident"]])
                if a["kind"] in kinds and lo <= ts(a["opened_at"]) <= hi]
        if hits:
            opened, i = min(hits)
            used.add((label["resident"], i))
            caught[label["kind"]].append((opened - ts(label["start"])).total_seconds() / 60)
        else:
            missed[label["kind"]] += 1
        if label["kind"] in LOOK_ALIKES:
            row = by_hall[(label["kind"], hall[label["resident"]])]
            row[0] += 1
            row[1] += 1 if hits else 0

    # An alert during a labelled incident (a missed lunch while lying on the
    # floor) is no false alarm, even if it is not the one that caught it; a
    # dead sensor is no reason to alarm about the resident, so it is not.
    excused = {}
    unrecorded = {}
    for label in labels:
        if label.get("class") == "incident" and label["kind"] in CATCHES and label["kind"] != "sensor_dead":
            excused.setdefault(label["resident"], []).append(span(label, GRACE))
        if label["kind"] == "holiday" and not label["recorded"]:
            unrecorded.setdefault(label["resident"], []).append(span(label, CONFOUNDER_GRACE))
    false = {k: 0 for k in ALERT_KINDS}
    false_by_hall = {True: 0, False: 0}
    fooled = {name: {k: 0 for k in BEHAVIOUR} for name, _ in CONFOUNDERS + [("none: an ordinary day", None)]}
    away_alerts = {k: 0 for k in BEHAVIOUR}
    for key, items in alerts.items():
        mine = [l for l in labels if l["resident"] == key]
        for i, a in enumerate(items):
            opened = ts(a["opened_at"])
            if a["kind"] not in false or (key, i) in used:
                continue
            if any(lo <= opened <= hi for lo, hi in excused.get(key, [])):
                continue
            if any(lo <= opened <= hi for lo, hi in unrecorded.get(key, [])):
                if a["kind"] in away_alerts:
                    away_alerts[a["kind"]] += 1
                continue
            false[a["kind"]] += 1
            if a["kind"] not in BEHAVIOUR:
                continue
            false_by_hall[hall[key]] += 1
            cause = "none: an ordinary day"
            for name, matches in CONFOUNDERS:
                if any(matches(l) and span(l, CONFOUNDER_GRACE)[0] <= opened <= span(l, CONFOUNDER_GRACE)[1]
                       for l in mine):
                    cause = name
                    break
            fooled[cause][a["kind"]] += 1

    if eaten_out:
        print(f"Missed meals placed on a meal she spent out (an outing across half the window), not scored: "
              f"{len(eaten_out)}")
        print()
    print("| incident | incidents | caught | median time to alert | slowest |")
    print("|---|---:|---:|---:|---:|")
    for kind in CATCHES:
        n = len(caught[kind]) + missed[kind]
        median = f"{statistics.median(caught[kind]):.0f} min" if caught[kind] else "-"
        slowest = f"{max(caught[kind]):.0f} min" if caught[kind] else "-"
        print(f"| {kind} | {n} | {len(caught[kind])} | {median} | {slowest} |")
    print()
    print("| alert kind | false alarms | per resident-week |")
    print("|---|---:|---:|")
    for kind in ALERT_KINDS:
        print(f"| {kind} | {false[kind]} | {false[kind] / resident_weeks:.2f} |")
    print()
    print("The look-alikes by whether the home has a hall motion sensor (out is believed only with one)")
    print()
    print("| incident | with hall sensor: caught / incidents | without: caught / incidents |")
    print("|---|---:|---:|")
    for kind in LOOK_ALIKES:
        w, wo = by_hall[(kind, True)], by_hall[(kind, False)]
        print(f"| {kind} | {w[1]} / {w[0]} | {wo[1]} / {wo[0]} |")
    homes_with = sum(1 for k in residents if hall[k])
    homes_without = len(residents) - homes_with
    per = lambda n, homes: f"{n / (homes * weeks):.2f}" if homes else "-"
    print()
    print(f"Behaviour false alarms per resident-week: {homes_with} homes with a hall sensor "
          f"{per(false_by_hall[True], homes_with)}, {homes_without} without {per(false_by_hall[False], homes_without)}")
    print()
    print("What fooled the rules: false alarms by what they opened during, count (per resident-week)")
    print()
    counts = {name: sum(1 for l in labels if matches(l)) for name, matches in CONFOUNDERS}
    print("| confounder | times | " + " | ".join(BEHAVIOUR) + " |")
    print("|---|---:|" + "---:|" * len(BEHAVIOUR))
    for name, row in fooled.items():
        cells = " | ".join(f"{row[k]} ({row[k] / resident_weeks:.2f})" if row[k] else "0" for k in BEHAVIOUR)
        print(f"| {name} | {counts.get(name, '-')} | {cells} |")
    print()
    # Presence checks ask the family whether she went out (low severity,
    # never to staff): counted apart from the false alarms, with what they
    # opened during.
    checks = {"outing": 0, "an incident": 0, "otherwise": 0}
    for key, items in alerts.items():
        mine = [l for l in labels if l["resident"] == key]
        for a in items:
            if a["kind"] != "presence_check":
                continue
            opened = ts(a["opened_at"])
            during = lambda l, grace: span(l, grace)[0] <= opened <= span(l, grace)[1]
            if any(l.get("class") == "incident" and during(l, GRACE) for l in mine):
                checks["an incident"] += 1
            elif any(l["kind"] == "outing" and during(l, CONFOUNDER_GRACE) for l in mine):
                checks["outing"] += 1
            else:
                checks["otherwise"] += 1
    total_checks = sum(checks.values())
    print(f"Presence checks sent to the family (low, not alarms; homes without a hall sensor only): {total_checks} "
          f"({total_checks / resident_weeks:.2f} per resident-week): "
          + ", ".join(f"during {k} {n}" if k != "otherwise" else f"otherwise {n}" for k, n in checks.items()))
    print()
    n_unrecorded = sum(1 for l in labels if l["kind"] == "holiday" and not l["recorded"])
    raised = ", ".join(f"{k} {n}" for k, n in away_alerts.items() if n) or "none"
    print(f"Holidays nobody recorded as away: {n_unrecorded}; alerts raised during them "
          f"(right: nobody said she was away; not false alarms): {raised}")
    other = sorted({l["kind"] for l in labels if l.get("class") != "confounder"} - set(CATCHES))
    print()
    print(f"{resident_weeks} resident-weeks; not in a CASAS log, so not scored: {', '.join(other) or 'none'}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
