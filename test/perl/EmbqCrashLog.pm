# Crashes of a PostgreSQL::Test::Cluster node, read from its server log, for
# TAP tests that must go on after a backend crash (restart_after_crash = on)
# and fail on it.
package EmbqCrashLog;

use strict;
use warnings;
use PostgreSQL::Test::Utils qw(slurp_file);

# Log lines that tell of a crash: a backend killed by a signal or exiting
# abnormally, a PANIC, a failed assertion.
our $CRASH = qr/terminated by signal|was terminated|PANIC|TRAP:|server process .* exited with exit code [^0]/;

# A watcher of a node's log, from its current end.
sub new
{
	my ($class, $node) = @_;
	my $self = bless { node => $node, pos => 0 }, $class;
	$self->new_lines;
	return $self;
}

# Crash lines written since the last call.
sub new_lines
{
	my ($self) = @_;
	my $log = slurp_file($self->{node}->logfile);
	my $new = substr($log, $self->{pos});
	$self->{pos} = length($log);
	return grep { /$CRASH/ } split /\n/, $new;
}

# Every crash line of the log.
sub all_lines
{
	my ($self) = @_;
	return grep { /$CRASH/ } split /\n/, slurp_file($self->{node}->logfile);
}

# After a crash: wait until the server accepts connections again, and skip
# the log lines of the restart.
sub wait_up
{
	my ($self) = @_;
	$self->{node}->poll_query_until('postgres', 'SELECT true')
	  or die 'server did not come back after a crash';
	$self->new_lines;
}

1;
