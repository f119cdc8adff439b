# embq's GPU path inside PostgreSQL, on the CPU emulation of the device:
# test/gpu/libembq_emu.so is the CUDA library's own sources built for the
# CPU emulator (threads as coroutines with real barriers, guard-paged device
# memory, fault injection), loaded through embq.gpu_library (set in
# postgresql.conf).  It runs everywhere (CI has no GPU); the real device is
# checked by test/gpu/pg_carry.sh on a lent GPU machine.
#
# Checked: embq_gpu_status() reports the device; a session keeps the library
# it loaded when embq.gpu_library changes; builds with embq.gpu = on
# train and assign on the GPU for every metric, answer a full probe with
# exactly the rows of a sequential scan, and reach the CPU build's recall
# on real vectors; the progress view names the GPU phases; a GPU build stays
# serial.  Then every runtime call of a build fails in turn (EMBQ_EMU_FAIL_FILE):
# under embq.gpu = auto the build warns and finishes on the CPU (training
# failures with parallel workers), under on it fails with a clean error and
# the session goes on.  Then every download from the device brings garbage
# in turn (0xff bytes: list -1, centroid values NaN): the build treats it as
# a GPU failure, as above, and never lets a list out of range or a NaN
# centroid into the index.  Every backend frees all device memory
# (EMBQ_EMU_REPORT) and none crashes.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib "$FindBin::RealBin/../perl";
use EmbqGpuEmu;

my $repo = abs_path(dirname(__FILE__) . '/../..');
my $emu = "$repo/test/gpu/libembq_emu.so";
# built by `make -C test/gpu emucheck` in the test run; else here (g++ with UBSan)
system("make -s -C '$repo/test/gpu' libembq_emu.so >/dev/null 2>&1") unless -f $emu;
plan skip_all => 'skipped: no GPU emulator (make -C test/gpu libembq_emu.so needs g++)' unless -f $emu;
my $data = $ENV{EMBQ_TEST_DATA} || "$repo/test/data";
my $sap = "$data/minilm-sap/sap_fiori_minilm384_all.fvecs";
die "006_gpu_emulated: no test vectors in $data (see test/data/README.md)" unless -f $sap;

my $emunode = EmbqGpuEmu->new('gpu_emu', $emu, 'max_worker_processes = 8');
my $node = $emunode->node;
sub fail_after { $emunode->fail_after(@_); }

like($node->safe_psql('postgres', q{
	CREATE EXTENSION embq;
	SELECT usable, device, reason IS NULL FROM embq_gpu_status()}),
	qr/^t\|embq CPU emulator \(compute 9\.0, \d+ MiB\)\|t$/, 'embq_gpu_status() reports the emulated device');
like($node->safe_psql('postgres', q{
	SELECT usable FROM embq_gpu_status();
	SET embq.gpu_library = 'libembq_cuda.so';
	SELECT usable, reason FROM embq_gpu_status();
	RESET embq.gpu_library;
	SELECT usable, reason IS NULL FROM embq_gpu_status()}),
	qr/^t\nf\|embq\.gpu_library names \/.*\/libembq_cuda\.so, but this session has loaded \Q$emu\E; a new library is loaded by new sessions\nt\|t$/,
	'a session that has loaded a library keeps it: another embq.gpu_library is reported, not loaded');

# A table of synthetic rows (and one NULL row) with awkward sizes.
sub make_table
{
	my ($table, $rows, $dims, $bits) = @_;
	$node->safe_psql('postgres', qq{
		CREATE TABLE $table (id int PRIMARY KEY, e i8vec($dims), b bitvec($bits));
		INSERT INTO $table SELECT i,
			quantize_int8(array(SELECT sin(i * j * 0.37 + j)::real FROM generate_series(1, $dims) j)),
			quantize_binary(array(SELECT cos(i * j * 0.11 + i)::real FROM generate_series(1, $bits) j))
		FROM generate_series(1, $rows) i;
		INSERT INTO $table VALUES (0, NULL, NULL);
		ALTER TABLE $table SET (parallel_workers = 2);
	});
}
make_table('s', 3000, 100, 200);

my $INDEX = 'SET enable_seqscan = off; SET enable_bitmapscan = off;';
my $EXACT = 'SET enable_indexscan = off; SET enable_bitmapscan = off;';
my $ALL = 'SET embq.probes = 65536; SET embq.rescore_factor = 1000;';

# Rows of a query, sorted by (distance, id): the index probed in full against a sequential scan.
sub rows_of
{
	my ($settings, $col, $op, $arg) = @_;
	my $out = $node->safe_psql('postgres', "$settings SELECT id, $col $op $arg FROM s WHERE $col IS NOT NULL ORDER BY $col $op $arg LIMIT 100000");
	return join(' ', sort { $a cmp $b } split /\n/, $out);
}

my $q8 = 'quantize_int8(array(SELECT cos(j * 0.3)::real FROM generate_series(1, 100) j))';
my $qf = 'array(SELECT sin(j * 0.7)::real FROM generate_series(1, 100) j)';
my $qb = 'quantize_binary(array(SELECT sin(j * 0.5)::real FROM generate_series(1, 200) j))';
my $qbf = 'array(SELECT sin(j * 0.5)::real FROM generate_series(1, 200) j)';
for my $case ([ 'e', 'i8vec_l2_ops', '<->', $q8 ], [ 'e', 'i8vec_ip_ops', '<#>', $qf ],
	[ 'e', 'i8vec_cosine_ops', '<=>', $qf ], [ 'b', 'bitvec_hamming_ops', '<~>', $qb ],
	[ 'b', 'bitvec_ip_ops', '<#>', $qbf ])
{
	my ($col, $opclass, $op, $arg) = @$case;
	$node->safe_psql('postgres', qq{
		SET embq.gpu = on;
		SET max_parallel_maintenance_workers = 2;
		CREATE INDEX s_$col ON s USING embq_ivf ($col $opclass) WITH (lists = 24);});
	is($node->safe_psql('postgres', "SELECT trained_on, assigned_on, build_workers FROM embq_ivf_info('s_$col')"),
		'gpu|gpu|0', "$opclass: trained and assigned on the GPU, serially");
	like($node->safe_psql('postgres', "$INDEX EXPLAIN (COSTS OFF) SELECT id FROM s ORDER BY $col $op $arg LIMIT 5"),
		qr/Index Scan using s_$col/, "$opclass: the plan uses the index");
	is(rows_of("$INDEX $ALL", $col, $op, $arg), rows_of($EXACT, $col, $op, $arg),
		"$opclass: the GPU-built index probed in full returns exactly the rows of a sequential scan");
	$node->safe_psql('postgres', "DROP INDEX s_$col");
}

# Real vectors: the GPU build's recall is the CPU build's (as test/gpu/pg_carry.sh
# checks on a real GPU): 11,680 rows of MiniLM embeddings, 195 held-out queries.
{
	my $bytes = do { local $/; open(my $fh, '<:raw', $sap) or die "open $sap: $!"; <$fh> };
	my $file = $node->basedir . '/sap.copy';
	open(my $out, '>', $file) or die;
	my ($off, $i) = (0, 0);
	while ($off < length($bytes))
	{
		my $d = unpack('l<', substr($bytes, $off, 4));
		print $out "$i\t{" . join(',', map { sprintf('%.9g', $_) } unpack("f<$d", substr($bytes, $off + 4, 4 * $d))) . "}\n";
		$off += 4 + 4 * $d;
		$i++;
	}
	close $out;
	$node->safe_psql('postgres', qq{
		CREATE TABLE v (id int, f real[]);
		COPY v FROM '$file';
		CREATE TABLE t AS SELECT g * 1000 + id AS id,
			quantize_int8(array(SELECT x + 0.03 * sin(g * 31 + n * 7 + id) FROM unnest(f) WITH ORDINALITY AS u(x, n))::real[])::i8vec(384) AS e
			FROM v, generate_series(0, 19) g WHERE id % 4 <> 0;
		CREATE TABLE q AS SELECT id, f FROM v WHERE id % 4 = 0;
		CREATE TABLE exact AS SELECT q.id, array(SELECT t.id FROM t ORDER BY t.e <=> q.f LIMIT 10) AS ids FROM q;
		CREATE FUNCTION recall() RETURNS numeric LANGUAGE sql AS \$\$
			SELECT round(avg((SELECT count(*) FROM unnest(array(SELECT t.id FROM t ORDER BY t.e <=> q.f LIMIT 10)) g(id)
				WHERE g.id = ANY (x.ids)) / 10.0), 4) FROM q JOIN exact x USING (id) \$\$;
	});
	my %recall;
	for my $path ('off', 'on')
	{
		my $phases = '';
		my $build = IPC::Run::start([ $node->installed_command('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-c', "SET embq.gpu = $path",
			'-c', 'CREATE INDEX t_e ON t USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 64)' ],
			'>', \my $bout, '2>', \my $berr);
		# the progress view, polled while the build runs
		while ($build->pumpable)
		{
			my $phase = $node->safe_psql('postgres', 'SELECT phase FROM pg_stat_progress_create_index');
			$phases .= "$phase;" if $phase ne '' && index($phases, "$phase;") < 0;
			$build->pump_nb;
			usleep(20_000);
		}
		ok($build->finish, "real vectors, embq.gpu = $path: the build succeeds") or diag($berr);
		if ($path eq 'on')
		{
			like($phases, qr/training centroids \(GPU\);.*assigning rows to lists \(GPU\);/,
				"real vectors, embq.gpu = on: the progress view names the GPU phases ($phases)");
		}
		$recall{$path} = $node->safe_psql('postgres', 'SET enable_seqscan = off; SET embq.probes = 4; SELECT recall()');
		is($node->safe_psql('postgres', "SELECT trained_on || '|' || assigned_on FROM embq_ivf_info('t_e')"),
			$path eq 'on' ? 'gpu|gpu' : 'cpu|cpu', "real vectors, embq.gpu = $path: built where asked");
		$node->safe_psql('postgres', 'DROP INDEX t_e');
	}
	cmp_ok($recall{off}, '>=', 0.6, "real vectors: the CPU build's recall@10 at 4 of 64 lists ($recall{off})");
	cmp_ok(abs($recall{on} - $recall{off}), '<=', 0.03,
		"real vectors: the GPU build's recall@10 ($recall{on}) is the CPU build's ($recall{off}) within 0.03");
}

# Fault injection: the n-th CUDA runtime call of a new backend fails, for
# every n until builds make fewer calls (five in a row without a failure).
# A small table of its own: the number of calls does not depend on the rows.
make_table('f', 600, 40, 72);
my $psql = $node->installed_command('psql');

# One session running each command in turn, going on after errors: (stdout, stderr).
sub session
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ $psql, '-X', '-A', '-t', '-q', '-d', $node->connstr('postgres'), map { ('-c', $_) } @_ ],
		'>', \$out, '2>', \$err);
	return ($out, $err);
}

# A build of f's column under embq.gpu = auto (after the settings given), in
# a new session: where it trained and assigned, how many rows a full probe
# of it returns, and what the session printed on stderr.
sub build_under_auto
{
	my ($col, $op, $arg, @settings) = @_;
	my ($out, $err) = session('SET embq.gpu = auto', @settings,
		"CREATE INDEX f_$col ON f USING embq_ivf ($col) WITH (lists = 8)",
		"SELECT trained_on, assigned_on, build_workers FROM embq_ivf_info('f_$col')",
		"$INDEX $ALL SELECT count(*) FROM (SELECT id FROM f ORDER BY $col $op $arg LIMIT 100000) x",
		"DROP INDEX f_$col");
	my ($where, $count) = split /\n/, $out;
	return ($where // '', $count // -1, $err);
}

# The same build under embq.gpu = on, where the same fault showed under auto
# as $kind: built when none showed, else a clean error; either way the
# session goes on.  Returns what went wrong, or ''.
sub build_under_on
{
	my ($col, $n, $kind) = @_;
	my ($out, $err) = session('SET embq.gpu = on',
		"CREATE INDEX f_$col ON f USING embq_ivf ($col) WITH (lists = 8)",
		"SELECT 'alive', count(*) FROM pg_class WHERE relname = 'f_$col'",
		"DROP INDEX IF EXISTS f_$col");
	return ''
	  if ($kind eq 'none' && $out eq "alive|1\n" && $err eq '')
	  || ($kind ne 'none' && $out eq "alive|0\n"
		&& $err =~ /^ERROR:  (GPU (k-means training|assignment) failed: .*|embq\.gpu is on but no GPU is usable\n(DETAIL|HINT):  .*)\n/);
	return "n=$n ($kind under auto): '$out', $err\n";
}

for my $case ([ 'e', '<->', 'quantize_int8(array(SELECT cos(j * 0.3)::real FROM generate_series(1, 40) j))' ],
	[ 'b', '<~>', 'quantize_binary(array(SELECT sin(j * 0.5)::real FROM generate_series(1, 72) j))' ])
{
	my ($col, $op, $arg) = @$case;
	my %seen = (probe => 0, training => 0, assignment => 0, none => 0);
	my ($bad_auto, $bad_on) = ('', '');
	my ($n, $clean) = (0, 0);
	while ($clean < 5 && $n < 1000)
	{
		fail_after(++$n);
		# auto: a warning at most; the build finishes with every row
		my ($where, $count, $err) = build_under_auto($col, $op, $arg, 'SET max_parallel_maintenance_workers = 2');
		my $warned = $err =~ /^WARNING:  GPU (k-means training|assignment) failed: .*\nDETAIL:  Continuing on the CPU\.\n$/;
		my $kind = $warned ? ($err =~ /k-means training/ ? 'training' : 'assignment')
		  : $where eq 'gpu|gpu|0' ? 'none' : 'probe';
		$seen{$kind}++;
		$clean = $kind eq 'none' ? $clean + 1 : 0;
		$bad_auto .= "n=$n: '$where', count $count, $err\n"
		  if $count != 600
		  || ($err ne '' && !$warned)
		  || ($kind eq 'none' && $where ne 'gpu|gpu|0')
		  || (($kind eq 'probe' || $kind eq 'training') && $where !~ /^cpu\|cpu\|[12]$/)
		  || ($kind eq 'assignment' && $where ne 'gpu|cpu|0');

		$bad_on .= build_under_on($col, $n, $kind);
	}
	is($bad_auto, '', "$col, embq.gpu = auto: with each of $n calls failing in turn, the build warns and finishes on the CPU with every row");
	is($bad_on, '', "$col, embq.gpu = on: each failing call fails the build with a clean error, and the session goes on");
	ok($seen{probe} && $seen{training} && $seen{assignment},
		"$col: the failures hit the probe ($seen{probe}), training ($seen{training}) and assignment ($seen{assignment})");
}

# Corrupt output: the n-th download from the device of a new backend brings
# 0xff bytes, for every n until builds make fewer downloads.  It hits the
# probe (the device is then unusable), the k-means assignments (which the
# library checks itself), the centroids (a NaN value, which embq checks) and
# the lists of the rows (list -1, which embq checks).  The i8vec build
# alone: a bitvec build goes through the same checks.
for my $case ([ 'e', '<->', 'quantize_int8(array(SELECT cos(j * 0.3)::real FROM generate_series(1, 40) j))' ])
{
	my ($col, $op, $arg) = @$case;
	my %seen = (probe => 0, kmeans => 0, centroids => 0, lists => 0, none => 0);
	my ($bad_auto, $bad_on) = ('', '');
	my ($n, $clean) = (0, 0);
	while ($clean < 5 && $n < 1000)
	{
		fail_after('corrupt ' . ++$n);
		my ($where, $count, $err) = build_under_auto($col, $op, $arg);
		my ($what, $why) = $err =~ /^WARNING:  GPU (k-means training|assignment) failed: (.*)\nDETAIL:  Continuing on the CPU\.\n$/;
		my $kind = !defined $what ? ($where eq 'gpu|gpu|0' ? 'none' : 'probe')
		  : $why =~ /^the GPU returned list -1 for row 0 of a batch, not one of 0 to 7$/ ? 'lists'
		  : $why =~ /^the GPU returned centroid 0 with a value \(NaN\) that no mean of the rows has$/ ? 'centroids'
		  : $why =~ /^k-means assignment out of range: -1$/ ? 'kmeans'
		  : 'other';
		$seen{$kind}++;
		$clean = $kind eq 'none' ? $clean + 1 : 0;
		$bad_auto .= "n=$n: '$where', count $count, $err\n"
		  if $count != 600
		  || $kind eq 'other'
		  || ($kind eq 'probe' && ($err ne '' || $where !~ /^cpu\|cpu\|\d$/))
		  || (($kind eq 'kmeans' || $kind eq 'centroids') && $where !~ /^cpu\|cpu\|\d$/)
		  || ($kind eq 'lists' && $where ne 'gpu|cpu|0');
		$bad_on .= build_under_on($col, $n, $kind);
	}
	is($bad_auto, '', "$col, embq.gpu = auto: with each of $n downloads corrupted in turn, the build warns and finishes on the CPU with every row");
	is($bad_on, '', "$col, embq.gpu = on: each corrupted download fails the build with a clean error, and the session goes on");
	ok($seen{probe} && $seen{kmeans} && $seen{centroids} && $seen{lists},
		"$col: corrupt downloads hit the probe ($seen{probe}), k-means assignments ($seen{kmeans}), centroids ($seen{centroids}) and lists ($seen{lists})");
}

$node->stop;
my @reports = $emunode->reports;
my @leaks = grep { (split / /)[1] != 0 } @reports;
cmp_ok(scalar(@reports), '>', 100, 'backends that loaded the emulated library reported at exit (' . scalar(@reports) . ')');
is(join("\n", @leaks), '', 'every backend freed all device memory');
my $log = slurp_file($node->logfile);
my @bad = grep { /PANIC|TRAP:|terminated by signal|server process .* exited with exit code/ } split /\n/, $log;
is(join("\n", @bad), '', 'server log: no backend crashed');

done_testing();
