-- embq example: store float embeddings, quantize them to int8 and to bits,
-- search with the quantized copies, and rescore candidates against the float query.
--
--   psql -X -v ON_ERROR_STOP=1 -f scripts/example.sql     (scripts/quickstart.sh runs it)

SET client_min_messages = warning;   -- hide "already exists, skipping" notices
CREATE EXTENSION IF NOT EXISTS embq;

DROP TABLE IF EXISTS items;
CREATE TABLE items (
    id      int PRIMARY KEY,
    title   text NOT NULL,
    emb     real[] NOT NULL,   -- full-precision embedding, 4 bytes per dimension
    emb_i8  i8vec(4),          -- int8 quantized, 1 byte per dimension
    emb_b   bitvec(4)          -- binary quantized (sign bits), 1 bit per dimension
);

INSERT INTO items (id, title, emb) VALUES
    (1, 'red apple',      '{ 0.91,  0.12, -0.30,  0.25}'),
    (2, 'green apple',    '{ 0.85,  0.20, -0.22,  0.41}'),
    (3, 'pear',           '{ 0.70,  0.35, -0.10,  0.52}'),
    (4, 'banana',         '{ 0.55, -0.40,  0.05,  0.60}'),
    (5, 'bicycle',        '{-0.62,  0.71,  0.30, -0.15}'),
    (6, 'motorbike',      '{-0.70,  0.64,  0.41, -0.05}'),
    (7, 'city bus',       '{-0.45,  0.20,  0.80, -0.33}'),
    (8, 'apple pie',      '{ 0.60,  0.05, -0.45, -0.20}');

-- Quantize once; the float column can be kept for rescoring or dropped to save space.
UPDATE items SET emb_i8 = quantize_int8(emb), emb_b = quantize_binary(emb);

SELECT id, title, emb_i8, emb_b FROM items ORDER BY id;

-- Text input works too: i8vec takes a float list, bitvec a bit string.
SELECT '[0.9,0.1,-0.2,0.4]'::i8vec(4) AS query_i8, '1001'::bitvec(4) AS query_bits;

-- 1. Nearest neighbours by L2 distance between int8 vectors.
SELECT id, title,
       round((emb_i8 <-> '[0.9,0.1,-0.2,0.4]')::numeric, 4) AS l2
FROM items
ORDER BY emb_i8 <-> '[0.9,0.1,-0.2,0.4]', id
LIMIT 3;

-- 2. Hamming distance between binary codes (cheapest possible comparison).
SELECT id, title, emb_b,
       emb_b <~> quantize_binary('{0.9,0.1,-0.2,0.4}'::real[]) AS hamming
FROM items
ORDER BY hamming, id
LIMIT 3;

-- 3. Two-stage search: take candidates by Hamming distance, then rescore them with the
--    int8 vectors against the full-precision query (i8vec <#> real[], negative inner product:
--    smaller is more similar).
WITH q AS (SELECT '{0.9,0.1,-0.2,0.4}'::real[] AS v),
candidates AS (
    SELECT i.id, i.title, i.emb_i8, i.emb_b <~> quantize_binary(q.v) AS hamming
    FROM items i, q
    ORDER BY hamming, i.id
    LIMIT 5
)
SELECT c.id, c.title, c.hamming,
       round((c.emb_i8 <#> q.v)::numeric, 4) AS neg_inner_product
FROM candidates c, q
ORDER BY c.emb_i8 <#> q.v, c.id
LIMIT 3;

-- 4. All asymmetric distances (quantized row vs float query) side by side.
WITH q AS (SELECT '{0.9,0.1,-0.2,0.4}'::real[] AS v)
SELECT id, title,
       round((emb_i8 <-> q.v)::numeric, 4) AS l2,
       round((emb_i8 <=> q.v)::numeric, 4) AS cosine_distance,
       round((emb_i8 <#> q.v)::numeric, 4) AS neg_inner_product,
       round((emb_b  <#> q.v)::numeric, 4) AS binary_neg_inner_product
FROM items, q
ORDER BY emb_i8 <=> q.v, id;
