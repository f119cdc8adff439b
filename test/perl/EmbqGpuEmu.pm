# A PostgreSQL::Test::Cluster node whose backends load the emulated GPU
# library (test/gpu/libembq_emu.so) with fault injection and an exit report
# of their device memory, for TAP tests of embq's GPU paths.
package EmbqGpuEmu;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils qw(slurp_file);

# A started node named $name loading library $emu, with extra settings $conf.
sub new
{
	my ($class, $name, $emu, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "autovacuum = off\n$conf\nembq.gpu_library = '$emu'");
	my $self = bless {
		node => $node,
		failfile => $node->basedir . '/emu_fail',
		report => $node->basedir . '/emu_report'
	}, $class;
	$self->fail_after(0);
	local $ENV{EMBQ_EMU_FAIL_FILE} = $self->{failfile};
	local $ENV{EMBQ_EMU_REPORT} = $self->{report};
	$node->start;
	return $self;
}

sub node { return $_[0]->{node}; }

# The fault the next backends inject: "n" (the n-th runtime call fails) or
# "corrupt n" (the n-th download brings 0xff bytes); 0: none.
sub fail_after
{
	my ($self, $what) = @_;
	open(my $fh, '>', $self->{failfile}) or die "open $self->{failfile}: $!";
	print $fh "$what\n";
	close $fh;
}

# The exit reports of the backends that loaded the library ("pid bytes-left"),
# once the node is stopped.
sub reports
{
	my ($self) = @_;
	return split /\n/, slurp_file($self->{report});
}

1;
