# embq_knn's exact mode on the GPU, on the CPU emulation of the device
# (test/gpu/libembq_emu.so, as in 006): under embq.gpu = on it returns for
# every operator class and query form exactly what the CPU returns (codes
# sent in many small batches: work_mem = 64kB), dead rows skipped.  Then
# every runtime call fails in turn, and every download brings garbage in
# turn: under auto the call warns and answers from the CPU, under on it
# fails with a clean error and the session goes on.  No backend leaves
# device memory behind or crashes.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use EmbqGpuEmu;

my $repo = abs_path(dirname(__FILE__) . '/../..');
my $emu = "$repo/test/gpu/libembq_emu.so";
system("make -s -C '$repo/test/gpu' libembq_emu.so >/dev/null 2>&1") unless -f $emu;
plan skip_all => 'skipped: no GPU emulator (make -C test/gpu libembq_emu.so needs g++)' unless -f $emu;

my $emunode = EmbqGpuEmu->new('knn_gpu', $emu, '');
my $node = $emunode->node;
sub fail_after { $emunode->fail_after(@_); }

$node->safe_psql('postgres', q{
	CREATE EXTENSION embq;
	CREATE TABLE kd (id int PRIMARY KEY, f real[], e i8vec(48), b bitvec(72));
	INSERT INTO kd SELECT i, v, quantize_int8(v[1:48]), quantize_binary(v)
		FROM (SELECT i, array(SELECT sin(i * 0.37 + j * (1 + i % 7)) + cos(j * 0.11 * (i % 13))
			FROM generate_series(1, 72) j)::real[] AS v FROM generate_series(1, 1500) i) s;
	CREATE INDEX kd_flat ON kd USING embq_ivf (e i8vec_l2_ops) WITH (lists = 8);
	CREATE INDEX kd_signs ON kd USING embq_ivf (e i8vec_cosine_ops) WITH (lists = 8, layout = signs);
	CREATE INDEX kd_ham ON kd USING embq_ivf (b bitvec_hamming_ops) WITH (lists = 8);
	CREATE INDEX kd_bip ON kd USING embq_ivf (b bitvec_ip_ops) WITH (lists = 8);
	DELETE FROM kd WHERE id % 17 = 3;
	CREATE TABLE kq AS SELECT row_number() OVER (ORDER BY id) AS qn, f[1:48] AS f48, f, e, b
		FROM kd WHERE id % 37 = 1;
});

# A fingerprint of what embq_knn(exact) returns for an index and a query column.
my @cases = ([ 'kd_flat', 'e' ], [ 'kd_flat', 'f48' ], [ 'kd_signs', 'e' ], [ 'kd_signs', 'f48' ],
	[ 'kd_ham', 'b' ], [ 'kd_bip', 'b' ], [ 'kd_bip', 'f' ]);
sub knn_sql
{
	my ($idx, $col, $k) = @_;
	return "SELECT count(*) || ' ' || md5(string_agg(query || ':' || rank || ':' || ctid || ':' || distance, ','"
	  . " ORDER BY query, rank)) FROM embq_knn('$idx', ARRAY(SELECT $col FROM kq ORDER BY qn), $k, true)";
}

my %cpu;
for my $c (@cases)
{
	my ($idx, $col) = @$c;
	$cpu{"$idx/$col"} = $node->safe_psql('postgres', "SET embq.gpu = off; " . knn_sql($idx, $col, 10));
	like($cpu{"$idx/$col"}, qr/^\d+ [0-9a-f]{32}$/, "$idx, $col queries: the CPU's answer");
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET embq.gpu = on; SET work_mem = '64kB'; SET client_min_messages = debug1; " . knn_sql($idx, $col, 10));
	is($out, $cpu{"$idx/$col"}, "$idx, $col queries: the GPU (in batches of 64kB) returns what the CPU returns");
	like($err, qr/embq_knn: 39 queries scored on the GPU/, "$idx, $col queries: scored on the GPU");
}
# k near the GPU's limit (keep = 2k + 16 <= 1024), and past it (the CPU serves)
for my $k (500, 600)
{
	is($node->safe_psql('postgres', "SET embq.gpu = on; " . knn_sql('kd_ham', 'b', $k)),
		$node->safe_psql('postgres', "SET embq.gpu = off; " . knn_sql('kd_ham', 'b', $k)),
		"k = $k: the same answer on the GPU and the CPU");
}

my $psql = $node->installed_command('psql');
sub session
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ $psql, '-X', '-A', '-t', '-q', '-d', $node->connstr('postgres'), map { ('-c', $_) } @_ ],
		'>', \$out, '2>', \$err);
	return ($out, $err);
}

# Every runtime call failing in turn, then every download corrupted in turn,
# until five in a row go through clean.
for my $mode ('fail', 'corrupt')
{
	my ($bad_auto, $bad_on) = ('', '');
	my ($n, $clean, $failures) = (0, 0, 0);
	while ($clean < 5 && $n < 500)
	{
		$n++;
		fail_after($mode eq 'fail' ? $n : "corrupt $n");
		my ($out, $err) = session("SET embq.gpu = auto", "SET work_mem = '64kB'", "SET client_min_messages = debug1",
			knn_sql('kd_signs', 'f48', 10));
		chomp $out;
		# what embq says (not the server's LOG lines at this level)
		$err = join('', grep { /^(WARNING|ERROR|DETAIL|HINT):  |^DEBUG:  embq_knn/ } split /^/m, $err);
		my $warned = $err =~ /^WARNING:  GPU batch search failed: .*\nDETAIL:  Continuing on the CPU\.\n$/;
		my $ongpu = $err =~ /^DEBUG:  embq_knn: 39 queries scored on the GPU\n$/;
		# a fault in the probe leaves no GPU: the CPU answers, silently under auto
		$bad_auto .= "n=$n: '$out', $err\n" if $out ne $cpu{'kd_signs/f48'} || !($warned || $ongpu || $err eq '');
		$clean = $ongpu ? $clean + 1 : 0;
		$failures++ if $warned;

		($out, $err) = session("SET embq.gpu = on", "SET work_mem = '64kB'", knn_sql('kd_signs', 'f48', 10),
			"SELECT 'alive'");
		chomp $out;
		$bad_on .= "n=$n: '$out', $err\n"
		  unless ($err eq '' && $out eq $cpu{'kd_signs/f48'} . "\nalive")
		  || ($out eq 'alive'
			&& $err =~ /^ERROR:  (GPU batch search failed: .*|embq\.gpu is on but no GPU is usable\n(DETAIL|HINT):  .*)\n/);
	}
	is($bad_auto, '', "$mode: under auto, each of $n faults in turn gives a warning at most and the CPU's answer");
	is($bad_on, '', "$mode: under on, each fault is a clean error and the session goes on");
	cmp_ok($failures, '>', 0, "$mode: faults hit the batch search itself ($failures)");
}

$node->stop;
my @reports = $emunode->reports;
my @leaks = grep { (split / /)[1] != 0 } @reports;
cmp_ok(scalar(@reports), '>', 20, 'backends that loaded the emulated library reported at exit (' . scalar(@reports) . ')');
is(join("\n", @leaks), '', 'every backend freed all device memory');
my @bad = grep { /PANIC|TRAP:|terminated by signal|server process .* exited with exit code/ }
  split /\n/, slurp_file($node->logfile);
is(join("\n", @bad), '', 'server log: no backend crashed');

done_testing();
