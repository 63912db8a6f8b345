"""A stand-in for the parts of kubelet the real device plugin talks to (the device manager)."""
