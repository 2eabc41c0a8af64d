#!/usr/bin/env bash
# Push benchmarks. A local receiver plays the push services; the backend
# encrypts (RFC 8291) and signs (VAPID) every push itself.
#
# MODE=fanout (the default): one SOS alert told to 1,000 Web Push
# subscribers (one endpoint per subscriber, answering 201). Reports the time
# from the alert's opening (its opened_at) to the last push received, and
# from the first push to the last.
#
# MODE=chatter: a family member's QUEUED messages (5,000) are queued for the
# carer's phone, whose push service answers in DELAY_MS (200 ms: draining
# them takes over 16 minutes); while they drain, an SOS opens. Reports the
# time from the alert's opening to its push at that same endpoint (told
# apart by its `Urgency: high`), and how many messages came before it. The
# message limit is lifted for the run (messages.per_user), so one author can
# queue them all through the API.
#
#   scripts/bench-push.sh                          # 1,000 subscribers: 100 carers x 10 devices
#   USERS=20 PER_USER=5 scripts/bench-push.sh
#   MODE=chatter scripts/bench-push.sh             # 5,000 messages at 200 ms, then an SOS
#   MODE=chatter QUEUED=2000 DELAY_MS=500 scripts/bench-push.sh
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${MODE:-fanout}
# A user keeps at most 10 subscriptions (push.max_subscriptions_per_user).
USERS=${USERS:-100}
PER_USER=${PER_USER:-10}
QUEUED=${QUEUED:-5000}
DELAY_MS=${DELAY_MS:-200}
HTTP_PORT=${HTTP_PORT:-18083}
RECEIVER_PORT=${RECEIVER_PORT:-18084}
PROFILE=${PROFILE:-release}

# shellcheck source=lib/backend.sh
source scripts/lib/backend.sh
prepare_backend eldercare_bench_push "$HTTP_PORT"
# The receiver is on this machine, over plain http.
export ELDERCARE__WEBHOOKS__ALLOW_PRIVATE=true
export ELDERCARE__MESSAGES__PER_USER=1000000

build_backend "$PROFILE"
start_backend "$bin/eldercare" .run/bench-push-serve.log

python3 - "$USERS" "$PER_USER" "$RECEIVER_PORT" "$MODE" "$QUEUED" "$DELAY_MS" <<'PY'
import json, subprocess, sys, threading, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

users, per_user, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
mode, queued, delay = sys.argv[4], int(sys.argv[5]), int(sys.argv[6]) / 1000
import os
api = f"http://{os.environ['HTTP_ADDR']}/api/v1"
total = users * per_user

got = []
lock = threading.Lock()

class Push(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        ok = self.headers.get("content-encoding") == "aes128gcm" and self.headers.get("authorization", "").startswith("vapid t=")
        with lock:
            got.append((time.time(), self.path, ok, len(body), self.headers.get("urgency")))
        if self.path.startswith("/slow/"):
            time.sleep(delay)
        self.send_response(201)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", port), Push)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()

def call(method, path, token=None, body=None):
    req = urllib.request.Request(api + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return json.loads(text) if text else None

def login(email, password):
    return call("POST", "/auth/login", body={"email": email, "password": password})["token"]

def psql(sql):
    return subprocess.run(["psql", os.environ["DATABASE_URL"], "-tAc", sql],
                          check=True, capture_output=True, text=True).stdout.strip()

admin = login(os.environ["ELDERCARE_ADMIN_EMAIL"], os.environ["ELDERCARE_ADMIN_PASSWORD"])
resident = call("POST", "/residents", admin, {"name": "Bench Resident", "timezone": "UTC", "room": "7"})["id"]
device = call("POST", "/devices", admin, {"device_id": "sos-bench", "resident_id": resident, "kind": "sos_button"})
# Any valid P-256 point will do: the receiver does not decrypt (the
# integration tests do). This is RFC 8291's example browser key.
keys = {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        "auth": "BTBZMqHH6r4Tts7J_aSIgg"}
def sos():
    mqtt = device["mqtt"]
    print("== SOS")
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", os.environ["MQTT_PORT"], "-u", mqtt["username"],
                    "-P", mqtt["password"], "-i", "sos-bench", "-q", "1", "-t", "eldercare/v1/sos-bench/event",
                    "-m", json.dumps({"event": "sos_pressed"})], check=True)

def opened_at():
    alerts = call("GET", "/alerts?kind=sos", admin)["alerts"]
    return float(psql(f"select extract(epoch from opened_at) from alerts where id = '{alerts[0]['id']}'"))

if mode == "chatter":
    print(f"== {queued} messages queued for one carer's phone, its push service answering in {delay * 1000:.0f} ms")
    call("POST", "/users", admin, {"email": "carer@bench.local", "password": "bench password 1", "role": "staff", "name": "Carer"})
    carer = login("carer@bench.local", "bench password 1")
    call("POST", "/me/push-subscriptions", carer, {"endpoint": f"http://127.0.0.1:{port}/slow/carer", "keys": keys})
    family = call("POST", "/users", admin, {"email": "son@bench.local", "password": "bench password 1", "role": "family", "name": "Son"})
    call("POST", f"/residents/{resident}/family", admin, {"user_id": family["id"], "relationship": "son"})
    son = login("son@bench.local", "bench password 1")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: call("POST", f"/residents/{resident}/messages", son, {"text": f"message {n}"}), range(queued)))
    while int(psql("select count(*) from notification_jobs")) > 0:
        time.sleep(0.2)
    while True:
        with lock:
            if got:
                break
        time.sleep(0.05)
    time.sleep(2)  # the chatter lane is draining, not just starting
    sos()
    deadline = time.time() + 300
    while time.time() < deadline:
        with lock:
            urgent = [g for g in got if g[4] == "high"]
        if urgent:
            break
        time.sleep(0.01)
    if not urgent:
        print("INCOMPLETE: no SOS push within 300 s")
        sys.exit(1)
    opened = opened_at()
    with lock:
        before = sum(1 for g in got if g[4] != "high" and g[0] < urgent[0][0])
    left = int(psql("select count(*) from notification_deliveries where delivered_at is null and not urgent"))
    print(f"messages pushed before the SOS: {before} of {queued}; still queued after it: {left}")
    print(f"alert opened -> SOS push at the slow endpoint: {urgent[0][0] - opened:.3f} s")
    sys.exit(0)

print(f"== {users} carers x {per_user} subscriptions = {total} subscribers")
for u in range(users):
    email = f"carer{u}@bench.local"
    call("POST", "/users", admin, {"email": email, "password": "bench password 1", "role": "staff", "name": f"Carer {u}"})
    token = login(email, "bench password 1")
    for d in range(per_user):
        call("POST", "/me/push-subscriptions", token,
             {"endpoint": f"http://127.0.0.1:{port}/push/{u}-{d}", "keys": keys})

sos()
deadline = time.time() + 300
while time.time() < deadline:
    with lock:
        if len(got) >= total:
            break
    time.sleep(0.05)
opened = opened_at()
with lock:
    times = sorted(g[0] for g in got)
    distinct = len({g[1] for g in got})
    valid = all(g[2] for g in got)
print(f"pushes received: {len(got)} ({distinct} distinct endpoints), all encrypted and VAPID-signed: {valid}")
if len(times) < total:
    print(f"INCOMPLETE: {len(times)} of {total} within 300 s")
    sys.exit(1)
print(f"alert opened -> first push: {times[0] - opened:.3f} s")
print(f"alert opened -> last push:  {times[-1] - opened:.3f} s")
print(f"first -> last push:         {times[-1] - times[0]:.3f} s ({total / max(times[-1] - times[0], 1e-9):.0f} pushes/s)")
PY
