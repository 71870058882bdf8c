#!/bin/sh
# Checks, without a container engine, what the image promises at run time: the built bridge
# (dist/) as uid 1000, as PID 1 of its own PID namespace (under tini, as in the image, or alone),
# with the root filesystem read-only and only a tmpfs /tmp writable. It posts 20 audit events to a
# webhook source, sends SIGTERM to PID 1 as the kubelet does, and expects exit 0 with the events
# archived and the dedupe window saved (the draining shutdown ran). Needs root, util-linux
# (unshare, setpriv) and, for the tini mode, /usr/bin/tini. Not part of npm test.
#
#   npm run build && sudo sh scripts/container-runtime-check.sh tini     # or: node
set -eu
MODE=${1:-tini}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-18089}

if [ "${INSIDE:-}" != 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "needs root (mount and PID namespaces)" >&2; exit 2; }
  [ "$MODE" != tini ] || [ -x /usr/bin/tini ] || { echo "/usr/bin/tini is missing (apt-get install tini)" >&2; exit 2; }
  exec env INSIDE=1 unshare --mount sh "$0" "$MODE"
fi

# A private mount namespace: read-only root, tmpfs /tmp (the pod's emptyDir), data under it.
mount --make-rprivate /
mount -o remount,bind,ro /
mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp
mkdir -p /tmp/data /tmp/cfg
chown 1000:1000 /tmp/data
cat > /tmp/cfg/config.yaml <<CFG
sources: [{ name: onprem, type: webhook }]
sinks: [{ name: archive, type: file, path: /tmp/data/audit.jsonl }]
checkpoint: { path: /tmp/data/checkpoints.json }
deadLetter: { path: /tmp/data/dead-letter.jsonl }
server: { host: 127.0.0.1, port: $PORT }
CFG

PRE=""
[ "$MODE" = tini ] && PRE="/usr/bin/tini --"
cd "$REPO"
# shellcheck disable=SC2086
unshare --pid --fork --mount-proc setpriv --reuid=1000 --regid=1000 --clear-groups \
  $PRE node "$REPO/dist/cli/main.js" run --config /tmp/cfg/config.yaml 2>/tmp/bridge.log &
UNSHARE=$!
for _ in $(seq 1 50); do PID1=$(pgrep -P "$UNSHARE" || true); [ -n "$PID1" ] && break; sleep 0.1; done
echo "PID 1: $(tr '\0' ' ' <"/proc/$PID1/cmdline")(uid $(awk '/^Uid/{print $2}' "/proc/$PID1/status"))"
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

PORT=$PORT node -e '
  const now = new Date().toISOString();
  const items = Array.from({ length: 20 }, (_, i) => ({ kind: "Event", apiVersion: "audit.k8s.io/v1", level: "Metadata",
    auditID: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, stage: "ResponseComplete",
    requestURI: "/api/v1/namespaces/default/pods", verb: "list", user: { username: "alice" },
    requestReceivedTimestamp: now, stageTimestamp: now }));
  fetch(`http://127.0.0.1:${process.env.PORT}/audit/onprem`, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ kind: "EventList", apiVersion: "audit.k8s.io/v1", items }) })
    .then((r) => { console.log(`POST /audit/onprem: ${r.status}`); if (r.status !== 200) process.exit(1); });'

kill -TERM "$PID1"
set +e
wait "$UNSHARE"
CODE=$?
set -e
echo "exit code after SIGTERM: $CODE"
ARCHIVED=$(wc -l </tmp/data/audit.jsonl)
SAVED=$(node -e 'console.log(require("/tmp/data/checkpoints.dedupe.json").sources.onprem.length)')
echo "archived events: $ARCHIVED; dedupe keys saved at shutdown: $SAVED"
echo "files written: $(cd /tmp/data && ls | tr '\n' ' ')"
if grep -q -i -E 'EROFS|read-only file system|EACCES' /tmp/bridge.log; then
  echo "FAIL: the bridge tried to write outside its volumes:"; cat /tmp/bridge.log; exit 1
fi
if [ "$CODE" = 0 ] && [ "$ARCHIVED" = 20 ] && [ "$SAVED" = 20 ]; then echo "OK"; else cat /tmp/bridge.log; echo FAIL; exit 1; fi
