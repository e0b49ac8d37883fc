"""Streaming ingestion: Structured Streaming queries whose micro-batches are written into feature
groups with the same pipeline and guarantees as a batch write (:mod:`.sink`)."""

from .sink import StreamSpec, Streams

__all__ = ["StreamSpec", "Streams"]
