SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS embq;

--
-- bitvec: text I/O, typmod, bit order, bytea and bit conversions
--

-- text input and output: a string of 0 and 1, dimension 0 first
SELECT '0'::bitvec, '1'::bitvec, '10110'::bitvec, '0000000011111111'::bitvec;
SELECT v, v::bitvec::text = v AS same
FROM (VALUES ('1'), ('01'), ('101'), ('10000000'), ('100000001'),
             ('1111111111111111111111111111111111111111111111111111111111111111'),
             ('00000000000000000000000000000000000000000000000000000000000000001')) t(v);
SELECT embq_dims('1'::bitvec), embq_dims('10110'::bitvec),
       embq_dims(repeat('10', 32000)::bitvec) AS dims_64000;
SELECT bit_count('0'::bitvec), bit_count('1'::bitvec), bit_count('10110'::bitvec),
       bit_count(repeat('0', 999)::bitvec), bit_count(repeat('1', 64000)::bitvec),
       bit_count(repeat('110', 333)::bitvec);

-- typmod on input, assignment and cast
SELECT '101'::bitvec(3);
SELECT '101'::bitvec(4);
SELECT '10110'::bitvec(3);
SELECT ('101'::bitvec)::bitvec(3);
SELECT ('101'::bitvec)::bitvec(2);
SELECT format_type('bitvec'::regtype, 7), format_type('bitvec'::regtype, -1);
CREATE TABLE embq_bitvec_t (id int, v bitvec(4));
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'embq_bitvec_t'::regclass AND attname = 'v';
INSERT INTO embq_bitvec_t VALUES (1, '1010');
INSERT INTO embq_bitvec_t VALUES (2, '101');
INSERT INTO embq_bitvec_t VALUES (3, '10101');
INSERT INTO embq_bitvec_t VALUES (4, '101'::bitvec);
INSERT INTO embq_bitvec_t VALUES (5, B'0110');        -- assignment cast from bit
INSERT INTO embq_bitvec_t VALUES (6, B'011');
INSERT INTO embq_bitvec_t VALUES (7, B'0111'::varbit);
UPDATE embq_bitvec_t SET v = '11' WHERE id = 1;
SELECT id, v, embq_dims(v) FROM embq_bitvec_t ORDER BY id;
DROP TABLE embq_bitvec_t;

-- bit order: dimension 0 is the most significant bit of byte 0
-- (numpy.packbits order), padding bits are zero
SELECT v, bitvec_to_bytea(v::bitvec)
FROM (VALUES ('1'), ('10000000'), ('01000000'), ('00000001'), ('000000001'),
             ('1111111111'), ('1010010111'), ('0000000100000010')) t(v);

-- bitvec(bytea, dims): packed bytes made elsewhere
SELECT bitvec('\x80'::bytea, 1), bitvec('\xa0'::bytea, 3), bitvec('\xa5'::bytea, 8),
       bitvec('\xa5c0'::bytea, 10), bitvec('\x0102'::bytea, 16);
-- numpy.packbits([1,0,1,0,0,1,0,1,1,1]) == b'\xa5\xc0'
SELECT bitvec('\xa5c0'::bytea, 10) = '1010010111'::bitvec AS packbits;
-- round trips bytea -> bitvec -> bytea and bitvec -> bytea -> bitvec
SELECT bitvec_to_bytea(bitvec('\xdeadbeef01'::bytea, 40));
SELECT count(*) FILTER (WHERE bitvec(bitvec_to_bytea(v), embq_dims(v)) <> v) AS mismatches,
       count(*) AS total
FROM (SELECT (SELECT string_agg(((i * 7919 + j * 104729) % 13 < 6)::int::text, '')
              FROM generate_series(1, 1 + i % 100) j)::bitvec AS v
      FROM generate_series(1, 500) i) s;
-- wrong lengths
SELECT bitvec('\xa5'::bytea, 9);
SELECT bitvec('\xa5c0'::bytea, 8);
SELECT bitvec('\x'::bytea, 1);
-- nonzero padding bits
SELECT bitvec('\x81'::bytea, 7);
SELECT bitvec('\xa5c1'::bytea, 10);
SELECT bitvec('\xff'::bytea, 1);
-- dimension counts out of range
SELECT bitvec('\x'::bytea, 0);
SELECT bitvec('\x00'::bytea, -8);
SELECT bitvec(decode(repeat('00', 8001), 'hex'), 64001);
SELECT embq_dims(bitvec(decode(repeat('ff', 8000), 'hex'), 64000)),
       bit_count(bitvec(decode(repeat('ff', 8000), 'hex'), 64000));

-- the binary send format is varbit's: int32 bit count, then the bytes
SELECT bitvec_send('10110'), varbit_send(B'10110');
SELECT count(*) FILTER (WHERE bitvec_send(v) <> varbit_send(v::varbit)
                           OR bitvec_to_bytea(v) <> substr(varbit_send(v::varbit), 5)) AS mismatches
FROM (SELECT (SELECT string_agg(((i * 31 + j * 17) % 7 < 3)::int::text, '')
              FROM generate_series(1, i) j)::bitvec AS v
      FROM generate_series(1, 300) i) s;

-- bit_count agrees with counting the 1 characters
SELECT count(*) FILTER (WHERE bit_count(v) <> length(replace(v::text, '0', ''))) AS mismatches
FROM (SELECT (SELECT string_agg(((i * 13 + j * 7) % 5 < 2)::int::text, '')
              FROM generate_series(1, 1 + i * 7) j)::bitvec AS v
      FROM generate_series(1, 300) i) s;

-- casts to and from bit and bit varying
SELECT B'10110'::bitvec, B'10110'::varbit::bitvec, '101'::bit(3)::bitvec(3);
SELECT B'101'::bitvec(4);
SELECT '10110'::bitvec::varbit, bitvec_to_bit('10110'), bitvec_to_varbit('10110'),
       pg_typeof(bitvec_to_bit('10110')), pg_typeof(bitvec_to_varbit('10110'));
-- explicit casts to bit(n) and bit varying(n) truncate or pad, as core bit does
SELECT '10110'::bitvec::bit(5), '10110'::bitvec::bit(3), '10110'::bitvec::bit(8),
       '10110'::bitvec::varbit(2), '10110'::bitvec::bit;
-- assignment to bit(n) checks the length, as core bit does
CREATE TABLE embq_bitvec_bits (b5 bit(5), bv bit varying(8));
INSERT INTO embq_bitvec_bits VALUES ('10110'::bitvec, '10110'::bitvec);
INSERT INTO embq_bitvec_bits (b5) VALUES ('1011'::bitvec);
INSERT INTO embq_bitvec_bits (bv) VALUES ('101101011'::bitvec);
SELECT b5, bv, b5::bitvec, bv::bitvec FROM embq_bitvec_bits;
DROP TABLE embq_bitvec_bits;
-- bitvec -> bit -> bitvec round trips, and bit's own text form is the same
SELECT count(*) FILTER (WHERE v::varbit::bitvec <> v OR v::varbit::text <> v::text
                           OR bitvec_to_bit(v)::bitvec <> v) AS mismatches
FROM (SELECT (SELECT string_agg(((i * 11 + j * 3) % 4 = 0)::int::text, '')
              FROM generate_series(1, i) j)::bitvec AS v
      FROM generate_series(1, 200) i) s;
SELECT embq_dims(repeat('1', 64000)::varbit::bitvec);
SELECT repeat('1', 64001)::varbit::bitvec;
SELECT ''::varbit::bitvec;
