"""Type stubs of the native extension; checked against the binary by ``mypy.stubtest``."""

__version__: str
