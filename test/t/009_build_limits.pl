# Limits an embq_ivf build keeps:
#  - its memory stays within maintenance_work_mem: at 1 MB, a build asked to
#    sample 50,000 rows of i8vec(1024) trains on what fits (the sample used
#    to be allocated in full, about 51 MB), measured as the backend's peak
#    resident memory (VmHWM) before and after the build;
#  - it fails up front, with a hint, when not even 4 sample rows per list fit;
#  - a cancel acts within a fraction of a second in every phase of k-means,
#    also while it re-seeds thousands of empty clusters (65,536 lists over
#    2 distinct values, where re-seeding used to take 9-10 s without a check).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('limits');
$node->init;
$node->append_conf('postgresql.conf', qq{
max_parallel_maintenance_workers = 0
log_min_messages = warning
# no WAL for a new index's pages, whose WAL buffers would count as the
# backend's resident (shared) memory
wal_level = minimal
max_wal_senders = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION embq');

# ---------------------------------------------------------------- memory
# 12,000 rows of i8vec(1024), rotations of one random vector (cheap to make)
$node->safe_psql('postgres', q{
	SELECT setseed(0.25);
	CREATE TABLE m (id int, v i8vec(1024));
	CREATE TEMP TABLE base AS
		SELECT array(SELECT (random() * 254 - 127)::int FROM generate_series(1, 1024)) AS c;
	INSERT INTO m SELECT i, i8vec_from_codes(c[(i % 1024) + 1 :] || c[: i % 1024])
		FROM base, generate_series(1, 12000) i;
});

# The backend's peak resident memory in kB, from /proc (Linux).
sub peak_kb
{
	my ($out) = @_;
	return $1 if $out =~ /VmHWM:\s+(\d+) kB/;
	die "no VmHWM in: $out";
}

# Peak resident memory growth (kB) of a fresh backend over one build; it
# also counts shared memory first touched (WAL buffers, shared buffers) and
# code pages, the same for every build, so builds are compared.
sub build_growth
{
	my ($with) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', qq{
		SET maintenance_work_mem = '1MB';
		SET client_min_messages = notice;
		SELECT count(*) FROM m;
		SELECT pg_read_file('/proc/' || pg_backend_pid() || '/status');
		CREATE INDEX m_v ON m USING embq_ivf (v i8vec_l2_ops) WITH ($with);
		SELECT pg_read_file('/proc/' || pg_backend_pid() || '/status');
		DROP INDEX m_v;
	});
	is($ret, 0, "build WITH ($with) at maintenance_work_mem = 1MB succeeds") or diag($err);
	my @peaks = ($out =~ /VmHWM:\s+(\d+) kB/g);
	die "no VmHWM in: $out" unless @peaks == 2;
	note "peak resident memory grew by @{[$peaks[1] - $peaks[0]]} kB over WITH ($with); $err";
	return $peaks[1] - $peaks[0];
}

SKIP:
{
	skip 'no /proc/self/status', 3 unless -r '/proc/self/status';
	my $small = build_growth('lists = 10, sample_rows = 40');
	my $large = build_growth('lists = 10, sample_rows = 50000');
	# before the fix the large sample took all 12,000 rows, 12 MB more; now
	# at most maintenance_work_mem (1 MB) more
	cmp_ok($large - $small, '<', 1536,
		"a large sample stays within maintenance_work_mem ($large kB against $small kB)");
}
like(
	$node->safe_psql('postgres', 'SELECT count(*) FROM m'),
	qr/^12000$/, 'table intact');

# Not even 4 rows per list fit: an error up front, with what it needs.
my ($ret, $out, $err) = $node->psql('postgres', q{
	SET maintenance_work_mem = '1MB';
	CREATE INDEX m_many ON m USING embq_ivf (v i8vec_l2_ops) WITH (lists = 2000);
});
isnt($ret, 0, 'too many lists for maintenance_work_mem fails');
like($err, qr/memory required to train 2000 embq_ivf lists is \d+ MB, maintenance_work_mem is 1 MB/,
	'error says how much is needed');
like($err, qr/HINT:  Increase maintenance_work_mem or use fewer lists/, 'with a hint');

# An oversized sample_rows is cut to what fits, with a notice.
($ret, $out, $err) = $node->psql('postgres', q{
	SET maintenance_work_mem = '4MB';
	SET client_min_messages = notice;
	CREATE INDEX m_s ON m USING embq_ivf (v i8vec_l2_ops) WITH (lists = 4, sample_rows = 2147483647);
	DROP INDEX m_s;
});
is($ret, 0, 'sample_rows = INT_MAX builds') or diag($err);

# ---------------------------------------------------------------- cancel
$node->safe_psql('postgres', q{
	CREATE TABLE k (id int, b bitvec(8));
	INSERT INTO k SELECT i, CASE WHEN i % 2 = 0 THEN '10101010'::bitvec ELSE '01010101'::bitvec END
		FROM generate_series(1, 65536) i;
});

# Start a build, cancel it after $after seconds of training; the seconds
# from pg_cancel_backend to the build's end.
sub cancel_latency
{
	my ($after) = @_;
	my ($stdout, $stderr) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
			"SET maintenance_work_mem = '256MB'; CREATE INDEX k_b ON k USING embq_ivf (b bitvec_hamming_ops) WITH (lists = 65536)"
		],
		'>', \$stdout, '2>', \$stderr);
	$node->poll_query_until('postgres', q{
		SELECT count(*) = 1 FROM pg_stat_progress_create_index
		WHERE phase LIKE '%training%'
	}) or die 'the build never reached training';
	usleep($after * 1_000_000);
	my $pid = $node->safe_psql('postgres',
		'SELECT pid FROM pg_stat_progress_create_index');
	die 'the build ended before the cancel' if $pid eq '';
	my $t0 = time;
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	$h->finish;
	my $latency = time - $t0;
	like($stderr, qr/canceling statement due to user request/,
		"build canceled after ${after}s of training");
	return $latency;
}

my $worst = 0;
for my $after (0.5, 2, 4)
{
	my $l = cancel_latency($after);
	note sprintf('cancel after %.1fs of training took %.3fs', $after, $l);
	$worst = $l if $l > $worst;
}
# a fraction of a second; the bound leaves room for a loaded CI machine
cmp_ok($worst, '<', 1.5, sprintf('every cancel acted within 1.5 s (worst %.3f s)', $worst));

$node->stop;
done_testing();
