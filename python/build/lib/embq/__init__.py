"""embq client: numpy <-> i8vec / bitvec, bit-identical client-side
quantization, psycopg 3 adapters and a COPY BINARY bulk loader."""
from .quantize import quantize_binary, quantize_int8
from .types import BitVec, I8Vec

__all__ = ["BitVec", "I8Vec", "quantize_binary", "quantize_int8", "register_embq", "copy_embeddings"]
__version__ = "0.2.0"


def register_embq(context):
    from .psycopg import register_embq as _register
    return _register(context)


def copy_embeddings(*args, **kwargs):
    from .psycopg import copy_embeddings as _copy
    return _copy(*args, **kwargs)
