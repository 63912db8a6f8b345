#!/bin/bash
# On the lent GPU host, after unpack.py has laid the bundle out in /opt/gpuconform: the suite
# on one real node over the host's real driver, its broken variant, the runbook by hand
# (timed), then a check that the host is as it was. What comes back is written under $OUT.
set -u
H=${GPUCONFORM_HOST_DIR:-/opt/gpuconform}
PROFILE=${GPUHOST_PROFILE:-gpu-host}          # rehearsal elsewhere: gpu-host-mock
BROKEN=${GPUHOST_BROKEN-gpu-host-broken}     # empty: no broken variant
DRA=${GPUHOST_DRA-gpu-host-dra}              # the DRA path on the same node; empty: none
NODES=${GPUHOST_NODES:-gpu-host}
OUT=${OUT:-$H/out}
mkdir -p "$OUT"
export GPUCONFORM_CACHE=$H/cache GPUCONFORM_THIRD_PARTY=$H/third_party
export GPUCONFORM_PREBUILT_IMAGES=$H/images PYTHONPATH=$H/site:$H/src PYTHONUNBUFFERED=1
export PATH=$PATH:$H/hosttools/bin
cd "$H/src" || exit 1
exec > >(tee "$OUT/host-run.log") 2>&1
t0=$(date +%s)
echo "== host: $(date -u +%FT%TZ), kernel $(uname -r), cgroup $(stat -fc %T /sys/fs/cgroup)"
env | grep -E '^PYTEST' || true
python3 -m pytest --version
nvidia-smi --query-gpu=index,name,uuid,driver_version --format=csv
for tool in ip iptables unshare mount tar xz; do echo "$tool: $(command -v $tool || echo MISSING)"; done
python3 -m gpuconform.gpuhost.hoststate snapshot "$H/state-before.txt"
# pytest finds the suite's plugin by its entry point, as where the project is pip-installed.
if ! python3 -c "import importlib.metadata as m; m.distribution('gpuconform')" 2>/dev/null; then
  d="$H/site/gpuconform-0.1.0.dist-info"
  mkdir -p "$d"
  printf 'Metadata-Version: 2.1\nName: gpuconform\nVersion: 0.1.0\n' >"$d/METADATA"
  printf '[pytest11]\ngpuconform = gpuconform_pytest\n' >"$d/entry_points.txt"
fi
# The device plugin's image over the host's driver, outside Kubernetes: whether its loader
# resolves what NVML needs (the plugin's ERROR_LIBRARY_NOT_FOUND on the first leases).
echo "== container view (no Kubernetes)"
python3 -m gpuconform.gpuhost.container_view "$H/images" >"$OUT/container-view.txt" 2>&1
echo "container view exit $?"; cat "$OUT/container-view.txt"
# The raw node probe of this host, as the diagnostics run it on a node (kept as evidence).
HOST_ROOT=/ sh gpuconform/diagnose/node_probe.sh >"$OUT/node-probe.txt" 2>&1
echo "== node probe exit $? ($(wc -l <"$OUT/node-probe.txt") lines in node-probe.txt)"
echo "== suite: pytest --cluster=$PROFILE"
s0=$(date +%s%N)
python3 -m pytest --cluster="$PROFILE" --reports-dir="$H/reports"
rc=$?
echo "suite exit $rc wall $(( ($(date +%s%N) - s0) / 1000000 )) ms"
if [ -n "$BROKEN" ] && [ "$rc" = 0 ]; then  # a broken variant says little if the suite failed
  echo "== broken variant: pytest --cluster=$BROKEN"
  python3 -m pytest --cluster="$BROKEN" --reports-dir="$H/reports"
  echo "broken exit $?"
fi
if [ -n "$DRA" ]; then  # the other way GPUs are handed out, on the same real node
  echo "== DRA path: pytest --cluster=$DRA"
  d0=$(date +%s%N)
  python3 -m pytest --cluster="$DRA" --reports-dir="$H/reports"
  echo "dra exit $? wall $(( ($(date +%s%N) - d0) / 1000000 )) ms"
fi
if [ "${GPUHOST_RUNBOOK:-1}" = 1 ]; then
echo "== runbook by hand"
python3 -m gpuconform.gpuhost.runbook --nodes "$NODES" --timeout "${GPUHOST_RUNBOOK_TIMEOUT:-90}" --out "$OUT/runbook.json"
echo "runbook exit $?"
fi
echo "== host afterwards"
python3 -m gpuconform.gpuhost.hoststate tidy "$H/state-before.txt"
python3 -m gpuconform.gpuhost.hoststate snapshot "$H/state-after.txt" "$H/state-before.txt"
if diff "$H/state-before.txt" "$H/state-after.txt"; then echo "host state: unchanged"; fi
cp "$H/state-before.txt" "$OUT/"
rm -f "$H"/reports/latest
tar czf "$OUT/reports.tar.gz" -C "$H" reports
run_s=$(( $(date +%s) - t0 ))
echo "== host_run.sh done in $run_s s"
# The device time this session's calls used on the host: every unpack call, then this run
# (the lease's start-up and the transfers come on top; the device tool's status says those).
echo "run $run_s" >>"$H/device-seconds.log"
awk '{ s += $2; n++ } END { printf "== device time: %.0f s of command time over %d steps\n", s, n }' \
  "$H/device-seconds.log" | tee "$OUT/device-time.txt"
cat "$H/device-seconds.log" >>"$OUT/device-time.txt"
# What was carried goes too (the reports are under $OUT by now), unless $OUT is inside it.
case "$OUT" in "$H"/*) ;; *) rm -rf "$H" && echo "removed $H" ;; esac
