"""Python values of embq's types, with their binary and text wire forms."""
import re
import struct

import numpy as np

from .quantize import quantize_binary, quantize_int8


class I8Vec:
    """An i8vec: int8 codes and a float32 scale (the value is scale * codes)."""

    __slots__ = ("codes", "scale")

    def __init__(self, codes, scale):
        self.codes = np.asarray(codes, dtype=np.int8)
        self.scale = np.float32(scale)
        if self.codes.ndim != 1 or len(self.codes) == 0:
            raise ValueError("i8vec codes must be a non-empty 1-D array")
        if (self.codes == -128).any():
            raise ValueError("i8vec codes must be in [-127, 127]")

    @classmethod
    def from_floats(cls, x):
        """The value quantize_int8(x) returns on the server."""
        codes, scale = quantize_int8(np.asarray(x, dtype=np.float32).reshape(-1))
        return cls(codes, scale)

    def to_numpy(self):
        """The dequantized float32 vector."""
        return self.codes.astype(np.float32) * self.scale

    def to_binary(self):
        return struct.pack("!hhf", len(self.codes), 0, self.scale) + self.codes.tobytes()

    @classmethod
    def from_binary(cls, data):
        dim, _, scale = struct.unpack_from("!hhf", data)
        return cls(np.frombuffer(data, dtype=np.int8, count=dim, offset=8).copy(), scale)

    def to_text(self):
        # the exact form, which the server reads back bit for bit
        return "%s*[%s]" % (repr(float(self.scale)), ",".join(str(int(c)) for c in self.codes))

    @classmethod
    def from_text(cls, text):
        m = re.fullmatch(r"\s*([^*\[\s]+)\s*\*\s*\[(.*)\]\s*", text)
        if m:
            return cls(np.array([int(c) for c in m.group(2).split(",")], dtype=np.int8), float(m.group(1)))
        # plain float form: the server prints it only when quantizing the floats gives these codes
        return cls.from_floats(np.array([float(f) for f in text.strip()[1:-1].split(",")], dtype=np.float32))

    def __eq__(self, other):
        return isinstance(other, I8Vec) and self.scale == other.scale and np.array_equal(self.codes, other.codes)

    def __repr__(self):
        return "I8Vec(%s)" % self.to_text()


class BitVec:
    """A bitvec: dim bits, packed MSB first."""

    __slots__ = ("bits", "dim")

    def __init__(self, bits, dim=None):
        self.bits = np.asarray(bits, dtype=np.uint8)
        self.dim = int(dim if dim is not None else 8 * len(self.bits))
        if self.dim < 1 or len(self.bits) != (self.dim + 7) // 8:
            raise ValueError("bitvec of %d bits needs %d bytes" % (self.dim, (self.dim + 7) // 8))
        if self.dim % 8 and self.bits[-1] & (0xFF >> (self.dim % 8)):
            raise ValueError("bitvec padding bits must be zero")

    @classmethod
    def from_floats(cls, x):
        """The value quantize_binary(x) returns on the server."""
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        return cls(quantize_binary(x), len(x))

    def to_numpy(self):
        """The bits as a bool array."""
        return np.unpackbits(self.bits)[: self.dim].astype(bool)

    def to_binary(self):
        return struct.pack("!i", self.dim) + self.bits.tobytes()

    @classmethod
    def from_binary(cls, data):
        (dim,) = struct.unpack_from("!i", data)
        return cls(np.frombuffer(data, dtype=np.uint8, count=(dim + 7) // 8, offset=4).copy(), dim)

    def to_text(self):
        return "".join("1" if b else "0" for b in self.to_numpy())

    @classmethod
    def from_text(cls, text):
        b = np.array([c == "1" for c in text.strip()], dtype=bool)
        return cls(np.packbits(b), len(b))

    def __eq__(self, other):
        return isinstance(other, BitVec) and self.dim == other.dim and np.array_equal(self.bits, other.bits)

    def __repr__(self):
        return "BitVec('%s')" % self.to_text()
