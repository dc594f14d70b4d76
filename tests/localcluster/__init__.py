"""A real local Kubernetes for tests and for the local default: pinned binaries, a control plane on
loopback, simulated GPU nodes, and a node agent that runs pods as local processes."""
