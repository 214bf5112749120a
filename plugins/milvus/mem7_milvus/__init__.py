"""mem7-milvus: mem7's vector store on Milvus (Milvus Lite's local ``.db``, or a Milvus server)."""

from .store import MilvusVectorStore

__all__ = ["MilvusVectorStore"]
