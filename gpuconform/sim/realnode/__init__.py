"""Real nodes of the simulated cluster (issue 17): kubelet v1.34 -> containerd v2 (CDI on) ->
nvidia-container-runtime (cdi) -> runc, in the node's own PID, mount and network namespaces.

Only the GPUs are SIMULATED: each GPU node's driver root holds NVIDIA's mock libnvidia-ml.so.1
and character devices for its GPUs; NVIDIA's real nvidia-ctk writes the node's CDI spec from it.
"""
