/*-------------------------------------------------------------------------
 *
 * codedist.h
 *		Distances between quantized codes, and between a float query and
 *		codes, as the SQL operators define them.  Shared by the operators and
 *		the index, so an index scan orders rows by exactly the values the
 *		operators return.  Plain C on top of kernels.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef EMBQ_CODEDIST_H
#define EMBQ_CODEDIST_H

#include <math.h>

#include "kernels.h"

/*
 * Squared L2 between two scaled int8 code vectors, from exact integer sums:
 * |sa a - sb b|^2 = sa^2 a.a + sb^2 b.b - 2 sa sb a.b.  With equal scales the
 * exact integer |a - b|^2 is used, so close vectors lose nothing to
 * cancellation.
 */
static inline double
embq_i8_l2sq(const EmbqKernels *k, float sa, const int8_t *a, float sb,
			 const int8_t *b, size_t n)
{
	int64_t		aa,
				bb,
				ab;
	double		d;

	k->i8_dot3(a, b, n, &aa, &bb, &ab);
	if (sa == sb)
		return (double) sa * (double) sa * (double) (aa + bb - 2 * ab);
	d = (double) sa * sa * (double) aa + (double) sb * sb * (double) bb -
		2.0 * (double) sa * (double) sb * (double) ab;
	return d > 0 ? d : 0;
}

/* 1 - cosine similarity clamped to [0, 2]; NaN when either norm is zero. */
static inline double
embq_cosine_from_sums(double dot, double norm_a_sq, double norm_b_sq)
{
	double		sim;

	if (norm_a_sq == 0 || norm_b_sq == 0)
		return NAN;
	sim = dot / (sqrt(norm_a_sq) * sqrt(norm_b_sq));
	if (sim > 1)
		sim = 1;
	else if (sim < -1)
		sim = -1;
	return 1.0 - sim;
}

/* Cosine distance of two code vectors; the scales cancel (0 = zero vector). */
static inline double
embq_i8_cosine(const EmbqKernels *k, float sa, const int8_t *a, float sb,
			   const int8_t *b, size_t n)
{
	int64_t		aa,
				bb,
				ab;

	k->i8_dot3(a, b, n, &aa, &bb, &ab);
	return embq_cosine_from_sums((double) ab, sa == 0 ? 0 : (double) aa,
								 sb == 0 ? 0 : (double) bb);
}

/* Inner product of two scaled code vectors. */
static inline double
embq_i8_ip(const EmbqKernels *k, float sa, const int8_t *a, float sb,
		   const int8_t *b, size_t n)
{
	return (double) sa * (double) sb * (double) k->i8_dot(a, b, n);
}

/* Cosine distance of a float query (squared norm qq) against codes. */
static inline double
embq_query_i8_cosine(const EmbqKernels *k, const float *q, double qq, float s,
					 const int8_t *c, size_t n)
{
	return embq_cosine_from_sums(k->f32_i8_dot(q, c, n),
								 s == 0 ? 0 : (double) k->i8_dot(c, c, n), qq);
}

#endif							/* EMBQ_CODEDIST_H */
