"""mem7-pinecone: a Pinecone index as a mem7 vector store, through the official ``pinecone`` SDK (REST)."""

from .store import PineconeStoreConfig, PineconeVectorStore

__all__ = ["PineconeStoreConfig", "PineconeVectorStore"]
__version__ = "0.1.0"
