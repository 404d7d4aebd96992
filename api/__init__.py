"""The HTTP service: a thin FastAPI shell over rag.Engine."""
