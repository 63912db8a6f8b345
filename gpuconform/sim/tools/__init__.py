"""SIMULATED GPU tools for containers on simulated nodes: nvidia-smi and the CUDA vectorAdd sample.

There is no GPU. Everything these tools print comes from NVML, which on a simulated node is
NVIDIA's real mock libnvidia-ml.so.1 (loaded through nvidia-ml-py from LD_LIBRARY_PATH,
configured by MOCK_NVML_CONFIG; see gpuconform/sim/nvml.py). The output formats, messages and
exit codes are the real tools', modelled on captures from a real H200 host
(tests/data/h200-host/). Like a container under nvidia-container-runtime, a tool sees only the
GPUs that NVIDIA_VISIBLE_DEVICES names.

Run one as ``python -m gpuconform.sim.tools <tool> [args]`` (tools: nvidia-smi, vectorAdd).
"""
