-- embq 0.1.0 -> 0.2.0 (ALTER EXTENSION embq UPDATE)
--
-- Every release ships the script from the one before; a new installation
-- runs embq--0.1.0.sql and then each of them in turn, so an upgraded
-- database and a new one define the same objects (TAP test 012 checks it).
-- Indexes built by 0.1.0 keep working: their format version (2) is read as
-- the signs layout they have.

\echo Use "ALTER EXTENSION embq UPDATE TO '0.2.0'" to load this file. \quit

-- embq_ivf_info gains a layout column (flat or signs).  A function's OUT
-- parameters cannot change in place, and nothing in the extension depends
-- on it: drop it and create it again.
DROP FUNCTION embq_ivf_info(regclass);
CREATE FUNCTION embq_ivf_info(index regclass,
	OUT lists integer, OUT dims integer, OUT metric text, OUT rows_per_page integer,
	OUT trained_on text, OUT assigned_on text, OUT build_workers integer,
	OUT layout text)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Batch nearest-neighbour search: for each query of an array (of the
-- index column's type, or real[] / double precision[] with one row per
-- query), its k nearest rows of the index's table, as (query number from 1,
-- rank from 1, ctid of the visible row version, distance).  exact = false:
-- what ORDER BY col <op> query LIMIT k returns through the index at the
-- session's settings; exact = true: what a sequential scan returns.
CREATE FUNCTION embq_knn(index regclass, queries anyarray, k integer DEFAULT 10,
	exact boolean DEFAULT false,
	OUT query integer, OUT rank integer, OUT ctid tid, OUT distance double precision)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 1000;
