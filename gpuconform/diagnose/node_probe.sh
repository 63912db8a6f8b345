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

# Where the driver's user-space lives: the host itself, the GPU Operator's containerized
# driver (/run/nvidia/driver, a whole root filesystem) or GKE's (/home/kubernetes/bin/nvidia,
# bin/ and lib64/). A containerized driver is not in the host's linker cache, and that is fine.
DRIVER_ROOT=/
for candidate in /run/nvidia/driver /home/kubernetes/bin/nvidia; do
  for lib in usr/lib/x86_64-linux-gnu usr/lib/aarch64-linux-gnu usr/lib64 lib64; do
    if [ -e "$HOST_ROOT$candidate/$lib/libnvidia-ml.so.1" ]; then
      DRIVER_ROOT="$candidate"; DRIVER_LIBS="$candidate/$lib"; break 2
    fi
  done
done

# A host path as in_host's commands see it (the simulated node's root is a directory here).
in_host_path() {
  if [ -n "$GPUCONFORM_SIM" ]; then echo "$HOST_ROOT$1"; else echo "$1"; fi
}

# The driver's own tools, from its root: chroot into a containerized driver (what the GPU
# Operator documents), GKE's bin/ with its lib64/.
driver_tool() {
  case "$DRIVER_ROOT" in
    /) in_host "$@" ;;
    /home/kubernetes/bin/nvidia)
      tool="$1"; shift
      in_host env LD_LIBRARY_PATH="$(in_host_path "$DRIVER_LIBS")" "$(in_host_path "$DRIVER_ROOT/bin/$tool")" "$@" ;;
    *) if [ -n "$GPUCONFORM_SIM" ]; then "$@"; else chroot "$HOST_ROOT$DRIVER_ROOT" "$@"; fi ;;
  esac
}

# The seed runbook's `nvidia-container-cli -k -d /dev/tty info`: a pod has no TTY, so the
# debug log goes to stderr and from there to a file of this probe's own, read back below.
CLI_DEBUG="$(mktemp 2>/dev/null || echo /tmp/gpuconform-cli-debug.log)"
# The GPU Operator installs the toolkit off the host's PATH, with its libraries beside it.
CLI=nvidia-container-cli
CLI_LIBS=
OPERATOR_TOOLKIT=/usr/local/nvidia/toolkit
if ! has_tool nvidia-container-cli && [ -e "$HOST_ROOT$OPERATOR_TOOLKIT/nvidia-container-cli" ]; then
  CLI="$(in_host_path "$OPERATOR_TOOLKIT")/nvidia-container-cli"
  CLI_LIBS="$(in_host_path "$OPERATOR_TOOLKIT")"
fi
cli_info() {
  if [ -n "$CLI_LIBS" ]; then
    in_host env LD_LIBRARY_PATH="$CLI_LIBS" "$CLI" --root "$DRIVER_ROOT" -k -d /dev/stderr info 2>"$CLI_DEBUG"
  else  # the host's own environment: its library path is the tool's
    in_host "$CLI" --root "$DRIVER_ROOT" -k -d /dev/stderr info 2>"$CLI_DEBUG"
  fi
}

section "host" uname -a
section "driver root" --file echo "$DRIVER_ROOT"
if has_tool nvidia-container-cli || [ -n "$CLI_LIBS" ]; then
  section "nvidia-container-cli info" --file cli_info
  section "nvidia-container-cli debug log" --file cat "$CLI_DEBUG"
else
  section "nvidia-container-cli info" nvidia-container-cli info
fi
rm -f "$CLI_DEBUG"
if [ "$DRIVER_ROOT" = "/" ]; then
  section "nvidia-smi -L" nvidia-smi -L
  section "nvidia-smi -q" nvidia-smi -q
else
  section "nvidia-smi -L" --file driver_tool nvidia-smi -L
  section "nvidia-smi -q" --file driver_tool nvidia-smi -q
fi
section "dev nodes" --file sh -c "ls -l $HOST_ROOT/dev/nvidia* 2>&1 | sed 's#$HOST_ROOT/*dev#/dev#'"
section "driver version" --file cat "$HOST_ROOT/proc/driver/nvidia/version"
if [ "$DRIVER_ROOT" = "/" ]; then
  section "ldconfig nvidia" sh -c 'ldconfig -p 2>/dev/null | grep -E "libnvidia-ml|libcuda|libnvidia-container" || echo "no NVIDIA libraries in the linker cache"'
else
  section "ldconfig nvidia" --file sh -c "echo 'containerized driver at $DRIVER_ROOT (not in the host linker cache):'; ls $HOST_ROOT$DRIVER_LIBS/ | grep -E 'libnvidia-ml|libcuda'"
fi
section "container runtime" --file sh -c "for f in $HOST_ROOT/etc/containerd/config.toml $HOST_ROOT/etc/containerd/conf.d/*.toml $HOST_ROOT/etc/docker/daemon.json $HOST_ROOT/etc/crio/crio.conf.d/*; do [ -f \"\$f\" ] && { echo \"# \$f\"; grep -nE 'nvidia|default_runtime_name|default-runtime' \"\$f\" || echo '(no nvidia runtime configured)'; }; done; echo '# end of runtime configuration'"
