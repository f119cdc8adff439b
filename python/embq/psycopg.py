"""psycopg 3 adapters for i8vec and bitvec, and a bulk loader over COPY BINARY."""
import sys
import time

import numpy as np
from psycopg import errors, sql
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

try:
    from psycopg.copy import QueuedLibpqWriter
except ImportError:  # psycopg before 3.1
    QueuedLibpqWriter = None

from .quantize import _quantize_rows, quantize_binary
from .types import BitVec, I8Vec


def _adapters(cls):
    class BinaryDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj):
            return obj.to_binary()

    class TextDumper(Dumper):
        def dump(self, obj):
            return obj.to_text().encode()

    class BinaryLoader(Loader):
        format = Format.BINARY

        def load(self, data):
            return cls.from_binary(bytes(data))

    class TextLoader(Loader):
        def load(self, data):
            return cls.from_text(bytes(data).decode())

    return BinaryDumper, TextDumper, BinaryLoader, TextLoader


def register_embq(context):
    """Register the adapters on a connection (or cursor): I8Vec and BitVec
    values are sent as i8vec / bitvec, and those columns come back as I8Vec
    and BitVec, in text or binary results."""
    conn = getattr(context, "connection", context)
    for name, cls in (("i8vec", I8Vec), ("bitvec", BitVec)):
        info = TypeInfo.fetch(conn, name)
        if info is None:
            raise LookupError("type %s not found: is the embq extension installed here?" % name)
        bd, td, bl, tl = _adapters(cls)
        for dumper in (td, bd):
            sub = type(dumper.__name__, (dumper,), {"oid": info.oid})
            context.adapters.register_dumper(cls, sub)
        context.adapters.register_loader(info.oid, tl)
        context.adapters.register_loader(info.oid, bl)


def _column_type(cur, table, column):
    row = cur.execute(
        "SELECT format_type(atttypid, atttypmod), atttypmod FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped", (table, column)).fetchone()
    if row is None:
        raise LookupError("column %s of %s not found" % (column, table))
    return row


def _draw_bar(table, done, total, elapsed, width=30):
    """One line of progress on stderr, redrawn in place."""
    filled = width * done // max(total, 1)
    rate = done / elapsed if elapsed > 0 else 0
    left = (total - done) / rate if rate else 0
    sys.stderr.write("\r%s [%s%s] %3d%% %d/%d rows, %.0f rows/s, %.0f s left " % (
        table, "#" * filled, "." * (width - filled), 100 * done // max(total, 1), done, total, rate, left))
    sys.stderr.flush()


def copy_embeddings(conn, table, embeddings, ids=None, id_column="id", i8vec_column=None,
                    bitvec_column=None, batch_size=10000, progress=False):
    """Load float32 embeddings (n x dims) into table as i8vec and/or bitvec
    codes with their ids, by COPY ... FROM STDIN (FORMAT BINARY): quantized
    here (as quantize_int8 / quantize_binary would on the server) and sent
    as codes, 4x / 32x fewer bytes than the floats.  ids default to 1..n;
    the id column may be int4 or int8.  progress=True draws a progress bar
    on stderr; a callable is called as progress(rows_sent, rows) after each
    batch instead (to drive tqdm or a log).  Returns the rows loaded."""
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError("embeddings must be a 2-D array (rows x dims)")
    n, d = x.shape
    if i8vec_column is None and bitvec_column is None:
        raise ValueError("give i8vec_column, bitvec_column or both")
    ids = np.arange(1, n + 1) if ids is None else np.asarray(ids)
    if len(ids) != n:
        raise ValueError("%d ids for %d embeddings" % (len(ids), n))
    cur = conn.cursor()
    idtype, _ = _column_type(cur, table, id_column)
    if idtype not in ("integer", "bigint"):
        raise TypeError("id column %s is %s: integer or bigint expected" % (id_column, idtype))
    fields = [("nfields", ">i2"), ("idlen", ">i4"), ("id", ">i4" if idtype == "integer" else ">i8")]
    cols = [id_column]
    if i8vec_column:
        typ, typmod = _column_type(cur, table, i8vec_column)
        if not typ.startswith("i8vec") or (typmod > 0 and typmod != d):
            raise TypeError("column %s is %s, not i8vec(%d)" % (i8vec_column, typ, d))
        fields += [("elen", ">i4"), ("edim", ">i2"), ("epad", ">i2"), ("scale", ">f4"), ("codes", "i1", (d,))]
        cols.append(i8vec_column)
    nb = (d + 7) // 8
    if bitvec_column:
        typ, typmod = _column_type(cur, table, bitvec_column)
        if not typ.startswith("bitvec") or (typmod > 0 and typmod != d):
            raise TypeError("column %s is %s, not bitvec(%d)" % (bitvec_column, typ, d))
        fields += [("blen", ">i4"), ("bdim", ">i4"), ("bits", "u1", (nb,))]
        cols.append(bitvec_column)
    row = np.dtype(fields)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(*table.split(".")), sql.SQL(", ").join(map(sql.Identifier, cols)))
    t0 = time.time()

    def send(cp):
        cp.write(b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], dtype=">i4").tobytes())
        for s in range(0, n, batch_size):
            e = min(n, s + batch_size)
            r = np.zeros(e - s, dtype=row)
            r["nfields"] = len(cols)
            r["idlen"] = row["id"].itemsize
            r["id"] = ids[s:e]
            # codes, scales and bits go straight into the COPY rows
            if i8vec_column:
                r["elen"], r["edim"] = 8 + d, d
                _quantize_rows(x[s:e], r["codes"], r["scale"], r["bits"] if bitvec_column else None)
            if bitvec_column:
                r["blen"], r["bdim"] = 4 + nb, d
                if not i8vec_column:
                    r["bits"] = quantize_binary(x[s:e])
            cp.write(memoryview(r.view(np.uint8)))
            if callable(progress):
                progress(e, n)
            elif progress:
                _draw_bar(table, e, n, time.time() - t0)
        cp.write(np.array([-1], dtype=">i2").tobytes())

    # A writer thread sends each batch while the next is quantized (numpy
    # releases the GIL), so the client's work and the server's COPY overlap
    # instead of taking turns.
    kw = {"writer": QueuedLibpqWriter(cur)} if QueuedLibpqWriter else {}
    client_error = []
    try:
        with cur.copy(stmt, **kw) as cp:
            try:
                send(cp)
            except Exception as ex:
                client_error.append(ex)
                raise
    except errors.QueryCanceled:
        # psycopg 3.1 (Debian 12's) reports an error raised here (NaN in the
        # data) as the server's cancel of the COPY (3.3 re-raises it): raise
        # the error itself
        if client_error:
            raise client_error[0] from None
        raise
    if progress and not callable(progress):
        sys.stderr.write("\n")
    return n
