"""What a platform team reads: verdict, node matrix, steps in runbook order, nightly trend.

Pure functions over what a run recorded (no pytest here); gpuconform_pytest/report.py wires
them into pytest-html's hooks and the terminal, gpuconform/cli.py into `gpuconform history`.
"""
