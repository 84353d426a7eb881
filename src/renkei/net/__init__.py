"""Shared network plumbing: the lean HTTP/1.1 client used by every context that pushes or forwards."""
