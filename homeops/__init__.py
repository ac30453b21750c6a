"""homeops: safe, planned, health-gated lifecycle automation for Talos clusters.

Kept import-light on purpose: ``inv --list`` imports this package, and the heavy modules
(paramiko, rich, cryptography) are imported only by the code paths that need them.
"""

__version__ = "0.1.0"
