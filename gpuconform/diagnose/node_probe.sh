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

# The NVIDIA Container Toolkit's config: the host's, or the GPU Operator's beside its toolkit.
OPERATOR_TOOLKIT=/usr/local/nvidia/toolkit
TOOLKIT_CONFIGS="/etc/nvidia-container-runtime/config.toml $OPERATOR_TOOLKIT/.config/nvidia-container-runtime/config.toml"
CDI_DIRS="/etc/cdi /var/run/cdi"
TOOLKIT_CONFIG=
for f in $TOOLKIT_CONFIGS; do
  if [ -f "$HOST_ROOT$f" ]; then TOOLKIT_CONFIG="$f"; break; fi
done

# A key's value in one [table] of the toolkit's TOML config (quotes dropped).
toolkit_value() {
  [ -n "$TOOLKIT_CONFIG" ] || return 0
  awk -v table="[$1]" -v key="$2" '
    /^[ \t]*\[/ { gsub(/[ \t]/, ""); current = $0; next }
    current == table && $0 ~ "^[ \t]*" key "[ \t]*=" {
      sub(/^[^=]*=[ \t]*/, ""); sub(/[ \t]*#.*$/, ""); gsub(/"/, ""); print; exit
    }' "$HOST_ROOT$TOOLKIT_CONFIG"
}

# The runtime's mode decides whether it needs nvidia-container-cli: `legacy` (and `auto`, which
# resolves to legacy unless a container asks for CDI devices) runs it as a prestart hook;
# `cdi` and `csv` inject what a CDI spec (or CSV files) name and never call it.
RUNTIME_MODE="$(toolkit_value nvidia-container-runtime mode)"
[ -n "$TOOLKIT_CONFIG" ] && [ -z "$RUNTIME_MODE" ] && RUNTIME_MODE=auto

LIB_DIRS="usr/lib/x86_64-linux-gnu usr/lib/aarch64-linux-gnu usr/lib64 lib64 usr/lib lib"
# The libraries' directory under a candidate driver root, if libnvidia-ml.so.1 is there.
driver_libs_in() {
  for lib in $LIB_DIRS; do
    if [ -e "$HOST_ROOT$1/$lib/libnvidia-ml.so.1" ]; then echo "$1/$lib"; return 0; fi
  done
  return 1
}

# The driver root a CDI spec names: the root of the libnvidia-ml it mounts into containers.
cdi_driver_root() {
  for dir in $CDI_DIRS; do
    for spec in "$HOST_ROOT$dir"/*.yaml "$HOST_ROOT$dir"/*.json; do
      [ -f "$spec" ] || continue
      path="$(grep -oE '"?hostPath"?: *"?/[^" ,]*/libnvidia-ml\.so[^" ,]*' "$spec" | head -n 1 | sed -E 's#^"?hostPath"?: *"?##')"
      for lib in $LIB_DIRS; do
        case "$path" in */"$lib"/libnvidia-ml.so*) echo "${path%/"$lib"/libnvidia-ml.so*}"; return 0 ;; esac
      done
    done
  done
  return 1
}

# Where the driver's user-space lives, found as the toolkit finds it: the root the node's CDI
# spec mounts libraries from, the root its config gives nvidia-container-cli
# ([nvidia-container-cli] root), then the usual places - the GPU Operator's containerized
# driver (/run/nvidia/driver, a whole root filesystem) or GKE's (/home/kubernetes/bin/nvidia,
# bin/ and lib64/) - then the host itself. A containerized driver is not in the host's linker
# cache, and that is fine.
DRIVER_ROOT=/
DRIVER_ROOT_FROM="the host (no other driver root holds libnvidia-ml.so.1)"
for candidate in "cdi:$(cdi_driver_root)" "config:$(toolkit_value nvidia-container-cli root)" \
    known:/run/nvidia/driver known:/home/kubernetes/bin/nvidia; do
  root="${candidate#*:}"
  case "$root" in ""|/) continue ;; esac
  if libs="$(driver_libs_in "$root")"; then
    DRIVER_ROOT="$root"; DRIVER_LIBS="$libs"
    case "$candidate" in
      cdi:*) DRIVER_ROOT_FROM="the CDI spec's libnvidia-ml" ;;
      config:*) DRIVER_ROOT_FROM="$TOOLKIT_CONFIG [nvidia-container-cli] root" ;;
      *) DRIVER_ROOT_FROM="a known driver location" ;;
    esac
    break
  fi
done

# A host path as in_host's commands see it (the simulated node's root is a directory here).
in_host_path() {
  if [ -n "$GPUCONFORM_SIM" ]; then echo "$HOST_ROOT$1"; else echo "$1"; fi
}

# The driver's own tools, from its root: chroot into a whole root filesystem (the GPU
# Operator's driver container, what its docs say to do); otherwise the root's own binary with
# the root's libraries (GKE's bin/ and lib64/, a driver root of libraries and tools only).
driver_tool() {
  tool="$1"; shift
  if [ "$DRIVER_ROOT" = "/" ]; then in_host "$tool" "$@"; return; fi
  if [ -e "$HOST_ROOT$DRIVER_ROOT/bin/sh" ]; then
    if [ -n "$GPUCONFORM_SIM" ]; then "$tool" "$@"; else chroot "$HOST_ROOT$DRIVER_ROOT" "$tool" "$@"; fi
    return
  fi
  for bin in usr/bin bin; do
    if [ -x "$HOST_ROOT$DRIVER_ROOT/$bin/$tool" ]; then
      in_host env LD_LIBRARY_PATH="$(in_host_path "$DRIVER_LIBS")" "$(in_host_path "$DRIVER_ROOT/$bin/$tool")" "$@"
      return
    fi
  done
  if [ -n "$GPUCONFORM_SIM" ]; then "$tool" "$@"; return; fi  # the simulated tools on PATH
  echo "tool not found: $tool (not in the driver root $DRIVER_ROOT)"
  return 127
}

# What the toolkit is told: its config's mode and roots, and the CDI specs it may read.
toolkit_summary() {
  if [ -n "$TOOLKIT_CONFIG" ]; then
    echo "# $TOOLKIT_CONFIG"
    echo "nvidia-container-runtime mode = $RUNTIME_MODE"
    grep -nE '^[[:space:]]*(\[|root[[:space:]]*=|runtimes[[:space:]]*=|spec-dirs[[:space:]]*=)' "$HOST_ROOT$TOOLKIT_CONFIG"
  else
    echo "no nvidia-container-runtime config (looked for: $TOOLKIT_CONFIGS)"
  fi
  for dir in $CDI_DIRS; do
    for spec in "$HOST_ROOT$dir"/*; do
      [ -f "$spec" ] && echo "CDI spec: ${spec#"$HOST_ROOT"}"
    done
  done
  echo "driver root $DRIVER_ROOT from $DRIVER_ROOT_FROM"
}

# The seed runbook's `nvidia-container-cli -k -d /dev/tty info`: a pod has no TTY, so the
# debug log goes to stderr and from there to a file of this probe's own, read back below.
CLI_DEBUG="$(mktemp 2>/dev/null || echo /tmp/gpuconform-cli-debug.log)"
# The GPU Operator installs the toolkit off the host's PATH, with its libraries beside it.
CLI=nvidia-container-cli
CLI_LIBS=
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
section "container toolkit" --file toolkit_summary
if has_tool nvidia-container-cli || [ -n "$CLI_LIBS" ]; then
  section "nvidia-container-cli info" --file cli_info
  section "nvidia-container-cli debug log" --file cat "$CLI_DEBUG"
elif [ "$RUNTIME_MODE" = cdi ] || [ "$RUNTIME_MODE" = csv ]; then
  section "nvidia-container-cli info" --file sh -c "echo 'tool not found: nvidia-container-cli (not needed: nvidia-container-runtime mode = $RUNTIME_MODE)'; exit 127"
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
