#!/bin/sh
# gpuconform node probe: what a platform engineer would type on a GPU node, in one go.
# Runs in a privileged pod with the host's root mounted at $HOST_ROOT, or directly on a host
# (HOST_ROOT=/). Each section is delimited so the explainer can split the output; a missing
# tool is recorded as exit 127 and never stops the probe.
HOST_ROOT="${HOST_ROOT:-/}"

# Host tools run inside the host's root so they find the host's driver libraries. On the
# SIMULATED cluster (GPUCONFORM_SIM set) there is no host to chroot into: the simulated
# tools are first on PATH and HOST_ROOT is the node's simulated root directory.
in_host() {
  if [ "$HOST_ROOT" = "/" ] || [ -n "$GPUCONFORM_SIM" ]; then "$@"; else chroot "$HOST_ROOT" "$@"; fi
}

has_tool() {
  in_host sh -c "command -v '$1'" >/dev/null 2>&1
}

section() {
  name="$1"; shift
  echo "=== gpuconform-probe: $name ==="
  if [ "$1" = "--file" ]; then
    shift
    "$@" 2>&1
    rc=$?
  elif has_tool "$1"; then
    in_host "$@" 2>&1
    rc=$?
  else
    echo "tool not found: $1"
    rc=127
  fi
  echo "=== gpuconform-probe-exit: $name $rc ==="
}

section "host" uname -a
section "nvidia-container-cli info" nvidia-container-cli -k -d /dev/tty info
section "nvidia-smi -L" nvidia-smi -L
section "nvidia-smi -q" nvidia-smi -q
section "dev nodes" --file sh -c "ls -l $HOST_ROOT/dev/nvidia* 2>&1 | sed 's#$HOST_ROOT/*dev#/dev#'"
section "driver version" --file cat "$HOST_ROOT/proc/driver/nvidia/version"
section "ldconfig nvidia" sh -c 'ldconfig -p 2>/dev/null | grep -E "libnvidia-ml|libcuda|libnvidia-container" || echo "no NVIDIA libraries in the linker cache"'
section "container runtime" --file sh -c "for f in $HOST_ROOT/etc/containerd/config.toml $HOST_ROOT/etc/containerd/conf.d/*.toml $HOST_ROOT/etc/docker/daemon.json $HOST_ROOT/etc/crio/crio.conf.d/*; do [ -f \"\$f\" ] && { echo \"# \$f\"; grep -nE 'nvidia|default_runtime_name|default-runtime' \"\$f\" || echo '(no nvidia runtime configured)'; }; done; echo '# end of runtime configuration'"
