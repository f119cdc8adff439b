# The Python client (python/embq) against a real server: client-side
# quantization bit for bit the server's on the vectors in test/data and on
# edge cases, the psycopg 3 adapters in text and binary, the COPY BINARY
# loader.  test/python/test_client.py does the work and ends with
# `N passed, N failed`; it runs on the tree's package and on the one `pip
# install` makes of it.  Needs python3 with numpy, psycopg 3 and pip (Debian:
# python3-numpy, python3-psycopg, python3-pip; test/run_tests.sh installs them).
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $repo = abs_path(dirname(__FILE__) . '/../..');
my $python = $ENV{EMBQ_PYTHON} || 'python3';

# Run a command: (success, stdout, stderr).
sub run
{
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run($_[0], '>', \$out, '2>', \$err);
	return ($ok, $out, $err);
}

my (undef, undef, $err) = run([ $python, '-c', 'import numpy, psycopg' ]);
# not a skip: the test command installs both, so a missing one is a failure
is($err, '', "$python has numpy and psycopg 3");

my $node = PostgreSQL::Test::Cluster->new('python');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION embq');

local $ENV{PGHOST} = $node->host;
local $ENV{PGPORT} = $node->port;
local $ENV{PGDATABASE} = 'postgres';
local $ENV{PGUSER} = getpwuid($<) // '';
# The package as `pip install` puts it (from the tree, offline: Debian's pip,
# setuptools and wheel), then the checks run against that copy.
my $target = PostgreSQL::Test::Utils::tempdir();
my ($pok, $pout, $perr) = run([ $python, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation',
	'--no-index', '--disable-pip-version-check', '--target', $target, "$repo/python" ]);
ok($pok && -f "$target/embq/__init__.py", 'pip install of python/ works') or diag($pout . $perr);

for my $from ([ 'the tree', '' ], [ 'the pip install', $target ])
{
	local $ENV{EMBQ_CLIENT_FROM} = $from->[1];
	my ($ok, $stdout, $stderr) = run([ $python, "$repo/test/python/test_client.py" ]);
	note($stdout);
	diag($stderr) if $stderr;
	ok($ok, "test_client.py exits with 0 (package from $from->[0])");
	like($stdout, qr/^(\d+) passed, 0 failed$/m, "every client check passed (package from $from->[0])");
	my ($n) = $stdout =~ /^(\d+) passed/m;
	cmp_ok($n // 0, '>=', 20, 'and there were at least 20 of them');
}

$node->stop;
done_testing();
