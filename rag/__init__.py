"""rag: the engine of the chat-with-your-documents app (loading, chunking, embedding, retrieval, answers).

Public entry point: :class:`rag.engine.Engine`. Modules import their heavy dependencies lazily, so
``import rag`` is cheap.
"""

__version__ = "0.1.0"
